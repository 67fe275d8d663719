"""`playerplatform leaderboards ...` commands."""

import click


@click.group(name="leaderboards")
def group() -> None:
    """Leaderboards operations."""
