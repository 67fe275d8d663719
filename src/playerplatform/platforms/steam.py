"""Placeholder."""

import httpx

from playerplatform.kit.settings import Settings


class SteamClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
