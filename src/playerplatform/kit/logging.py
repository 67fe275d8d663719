"""Structured logging (placeholder until the gateway lands)."""

from playerplatform.kit.settings import Settings


def configure_logging(settings: Settings) -> None:
    return None
