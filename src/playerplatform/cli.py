"""`playerplatform`: serve, migrate, staff accounts, key rotation, emulators."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import click

from playerplatform.kit.settings import Settings


def _run(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(factory())


@click.group()
def main() -> None:
    """Player Platform: identity, commerce, UGC, leaderboards and safety for games."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="API processes")
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations first.")
def serve(host: str, port: int, workers: int, no_migrate: bool) -> None:
    """Migrate if needed, then serve the API and the console."""
    import uvicorn

    from playerplatform.kit import migrate
    from playerplatform.kit.serving import HttpProtocol

    settings = Settings()
    if settings.shape == "embedded" and not settings.redis_url and workers > 1:
        raise click.UsageError(
            "The embedded shape keeps its hot store in one process: use --workers 1, or set "
            "PP_REDIS_URL (and a PostgreSQL PP_DATABASE_URL) to run several workers."
        )
    if not no_migrate:
        click.echo(f"Migrating {_redact(settings.database_url)} ...")
        migrate.upgrade(settings.database_url)
    _prepare_metrics_dir(settings, workers)
    base = f"http://{host}:{port}"
    click.echo(
        f"Player Platform ({settings.shape} shape) on {base}\n"
        f"  API docs   {base}/docs\n  OpenAPI    {base}/openapi.json\n"
        f"  Health     {base}/healthz  (ready: {base}/readyz)"
    )
    if settings.bootstrap_admin_email:
        click.echo(f"  Admin      {settings.bootstrap_admin_email} (bootstrap admin)")
    uvicorn.run(
        "playerplatform.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=HttpProtocol,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
    )


def _prepare_metrics_dir(settings: Settings, workers: int) -> None:
    """Several workers share metrics through prometheus_client's multiprocess directory."""
    if workers > 1:
        from playerplatform.kit.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings.metrics_multiproc_dir)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.argument("action", type=click.Choice(["upgrade", "downgrade", "current"]), default="upgrade")
@click.argument("revision", required=False)
def migrate(action: str, revision: str | None) -> None:
    """Apply (upgrade [REV], default head), revert (downgrade REV) or show migrations."""
    from playerplatform.kit import migrate as migrations

    url = Settings().database_url
    if action == "upgrade":
        migrations.upgrade(url, revision or "head")
        click.echo(f"Upgraded to {revision or 'head'}.")
    elif action == "downgrade":
        if not revision:
            raise click.UsageError("downgrade needs a revision (e.g. base, or -1)")
        migrations.downgrade(url, revision)
        click.echo(f"Downgraded to {revision}.")
    else:
        click.echo(asyncio.run(migrations.current_revision(url)) or "none")


@main.group()
def admin() -> None:
    """Staff accounts."""


@admin.command("create")
@click.option("--email", required=True)
@click.option("--password", default=None, help="Prompted for when absent and the account is new.")
@click.option(
    "--role", type=click.Choice(["admin", "moderator"]), default="admin", show_default=True
)
def admin_create(email: str, password: str | None, role: str) -> None:
    """Create a staff account (or promote the account that has this email)."""
    from playerplatform.auth.bootstrap import create_staff_account

    async def create() -> tuple[str, bool]:
        runtime = await _runtime()
        try:
            return await create_staff_account(runtime, email=email, password=password, role=role)
        finally:
            await runtime.close()

    if password is None and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        canonical_id, created = _run(create)
    except Exception as exc:  # shown to the operator, not a stack trace
        raise click.ClickException(str(exc)) from None
    verb = "Created" if created else "Updated"
    click.echo(f"{verb} {role} {email.strip().lower()} ({canonical_id}).")


@main.group()
def keys() -> None:
    """Access-token signing keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; old keys stay in the JWKS until their tokens expire."""
    from playerplatform.audit import service as audit

    async def rotate() -> tuple[str, list[str]]:
        runtime = await _runtime()
        try:
            async with runtime.db.unit_of_work() as uow:
                kid, retired = await runtime.keys.rotate(uow)
                await audit.record(
                    uow,
                    action="keys.rotate",
                    resource_type="signing_key",
                    resource_id=kid,
                    actor=None,
                    old={"active": retired},
                    new={"active": [kid]},
                )
            return kid, retired
        finally:
            await runtime.close()

    kid, retired = _run(rotate)
    click.echo(f"New signing key {kid}; retired {', '.join(retired) or 'none'}.")


async def _runtime() -> Any:
    from playerplatform.kit import migrate as migrations
    from playerplatform.runtime import Runtime

    settings = Settings()
    await migrations.upgrade_async(settings.database_url)
    runtime = Runtime.build(settings)
    await runtime.keys.load(create_if_missing=False)
    return runtime


@main.command()
def demo() -> None:
    """Fill an empty install with demo players, SKUs, a season and UGC (through the API)."""
    from playerplatform.demo import DemoRefused, run_demo

    settings = Settings()
    from playerplatform.kit import migrate as migrations

    migrations.upgrade(settings.database_url)
    try:
        report = asyncio.run(run_demo(settings, click.echo))
    except DemoRefused as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(
        f"Demo ready: {report.players} players, SKUs {', '.join(report.skus)}, season "
        f"{report.season} ({report.scores} scores), {len(report.ugc_published)} UGC items "
        f"published, {len(report.ugc_waiting)} waiting for a scan.\n"
        f"Console: {settings.public_url}/admin  staff sign-in {report.admin_email} / "
        f"{report.admin_password}"
    )


def _register_optional_commands() -> None:
    from playerplatform.commerce.cli import group as commerce
    from playerplatform.jobs.cli import worker
    from playerplatform.leaderboards.cli import group as leaderboards
    from playerplatform.platforms.cli import emulate
    from playerplatform.ugc.cli import group as ugc

    main.add_command(emulate)
    main.add_command(worker)
    main.add_command(commerce)
    main.add_command(leaderboards)
    main.add_command(ugc)


_register_optional_commands()


if __name__ == "__main__":
    main()
