"""Gateway middleware (placeholder until the gateway lands)."""

from fastapi import FastAPI

from playerplatform.kit.settings import Settings


def install_gateway(app: FastAPI, settings: Settings) -> None:
    return None
