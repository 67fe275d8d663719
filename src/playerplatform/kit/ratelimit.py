"""Rate limits (placeholder)."""

from playerplatform.kit.hotstore import HotStore
from playerplatform.kit.settings import Settings


class RateLimiter:
    def __init__(self, settings: Settings, hot: HotStore) -> None:
        self.settings = settings
        self.hot = hot

    async def check(self, route_class: str, subject: str) -> dict[str, str]:
        return {}
