"""`playerplatform ugc ...` commands."""

import click


@click.group(name="ugc")
def group() -> None:
    """Ugc operations."""
