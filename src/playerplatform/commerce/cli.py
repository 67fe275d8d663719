"""`playerplatform commerce ...` commands."""

import click


@click.group(name="commerce")
def group() -> None:
    """Commerce operations."""
