"""The composition root: builds every adapter from settings once, at start-up, and hands
them to the app (lifespan state) and to the CLI. Domain code receives what it needs from
here and never asks which adapter it got."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from playerplatform.auth.deps import Passes
from playerplatform.auth.keys import KeyRing
from playerplatform.jobs.system import JobSystem
from playerplatform.kit.db import Database
from playerplatform.kit.hotstore import HotStore, create_hot_store
from playerplatform.kit.mail import Mailer, create_mailer
from playerplatform.kit.objects import ObjectStore, create_object_store
from playerplatform.kit.ratelimit import RateLimiter
from playerplatform.kit.scanner import Scanner, create_scanner
from playerplatform.kit.settings import Settings
from playerplatform.leaderboards.live import LiveBoards
from playerplatform.platforms.epic import EpicClient
from playerplatform.platforms.steam import SteamClient
from playerplatform.platforms.twitch import TwitchClient

# Hot-store keys every request reads and few change, copied into each process (see
# `kit.hotstore.near`): session and ban state and cached user objects (`auth:`), cached
# ownership answers (`own:`).
NEAR_PREFIXES = ("auth:", "own:")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    hot: HotStore
    http: httpx.AsyncClient
    keys: KeyRing
    mailer: Mailer
    limiter: RateLimiter
    steam: SteamClient
    epic: EpicClient
    twitch: TwitchClient
    objects: ObjectStore
    jobs: JobSystem
    scanner: Scanner
    leaderboards: LiveBoards
    passes: Passes = field(default_factory=Passes)
    closers: list[object] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = Database(settings)
        hot = create_hot_store(
            settings.redis_url,
            prefix=settings.redis_prefix,
            cluster=settings.redis_cluster,
            near_prefixes=NEAR_PREFIXES,
        )
        http = httpx.AsyncClient(
            timeout=settings.platform_timeout_seconds,
            headers={"User-Agent": "player-platform/0.1"},
        )
        return cls(
            settings=settings,
            db=db,
            hot=hot,
            http=http,
            keys=KeyRing(settings, db),
            mailer=create_mailer(settings),
            limiter=RateLimiter(settings, hot),
            steam=SteamClient(settings, http),
            epic=EpicClient(settings, http),
            twitch=TwitchClient(settings, http),
            objects=create_object_store(settings),
            jobs=JobSystem(settings, db),
            scanner=create_scanner(settings),
            leaderboards=LiveBoards(settings, db, hot),
        )

    async def start(self) -> None:
        await self.keys.load(create_if_missing=True)
        await self.objects.start()
        await self.leaderboards.start()

    async def close(self) -> None:
        await self.jobs.close()  # first: jobs in flight still use everything below
        await self.leaderboards.close()
        await self.objects.close()
        await self.scanner.close()
        await self.http.aclose()
        await self.limiter.close()
        await self.hot.close()
        await self.db.dispose()
