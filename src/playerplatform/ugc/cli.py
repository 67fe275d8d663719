"""`playerplatform ugc ...` commands."""

from __future__ import annotations

import asyncio

import click

from playerplatform.kit.settings import Settings


async def _check_scanner(settings: Settings) -> str:
    from playerplatform.kit.scanner import ClamdScanner, create_scanner

    scanner = create_scanner(settings)
    try:
        await scanner.ping()
        if isinstance(scanner, ClamdScanner):
            return f"clamd at {scanner.address} answers: {await scanner.version()}"
        return "no scanner configured (PP_CLAMD_ADDRESS unset): uploads are held for review"
    finally:
        await scanner.close()


@click.group(name="ugc")
def group() -> None:
    """User-generated content operations."""


@group.command(name="check-scanner")
def check_scanner() -> None:
    """Ask the configured virus scanner (clamd) whether it answers, and its version."""
    from playerplatform.kit.scanner import ScannerUnavailable

    try:
        click.echo(asyncio.run(_check_scanner(Settings())))
    except ScannerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
