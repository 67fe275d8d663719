"""The composition root: builds every adapter from settings once, at start-up, and hands
them to the app (lifespan state) and to the CLI, together with what every domain contributes
(`wiring`: job handlers, merge hooks, readiness checks, ...; see `playerplatform.wiring`).
Domain code receives what it needs from here and never asks which adapter it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from playerplatform.auth.deps import VerifiedTokens, token_subject
from playerplatform.auth.first_sign_in import ClaimBatcher
from playerplatform.auth.keys import KeyRing
from playerplatform.jobs.system import JobSystem
from playerplatform.kit.db import Database
from playerplatform.kit.hotstore import HotStore, create_hot_store
from playerplatform.kit.mail import Mailer
from playerplatform.kit.notices import Notify
from playerplatform.kit.objects import ObjectStore, create_object_store
from playerplatform.kit.ratelimit import RateLimiter
from playerplatform.kit.replicas import ReadYourWrites
from playerplatform.kit.scanner import Scanner, create_scanner
from playerplatform.kit.settings import Settings
from playerplatform.kit.textfilter import TextFilter, build_text_filter
from playerplatform.kit.views import PREFIX as VIEW_PREFIX
from playerplatform.kit.views import Views
from playerplatform.leaderboards.live import LiveBoards
from playerplatform.messaging.hub import RealtimeHub, create_hub
from playerplatform.messaging.mail import create_mailer
from playerplatform.messaging.push import Push, create_push
from playerplatform.platforms.epic import EpicClient
from playerplatform.platforms.steam import SteamClient
from playerplatform.platforms.twitch import TwitchApp, TwitchClient
from playerplatform.webhooks.intake import EventIntake

if TYPE_CHECKING:
    from playerplatform.config.live import LiveConfig
    from playerplatform.contributions import Wiring

# Hot-store keys every request reads and few change, copied into each process (see
# `kit.hotstore.near`): session and ban state and cached user objects (`auth:`), cached
# ownership answers (`own:`), cached views and their generations (`view:`, `kit.views`), the
# live configuration's change counter (`config:`, `config.live`).
NEAR_PREFIXES = ("auth:", "own:", VIEW_PREFIX, "config:")


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
    twitch_app: TwitchApp  # Helix as our application: Drops, EventSub
    objects: ObjectStore
    jobs: JobSystem
    scanner: Scanner
    leaderboards: LiveBoards
    views: Views
    first_sign_ins: ClaimBatcher  # PostgreSQL: first sign-ins written together
    wiring: Wiring
    text_filter: TextFilter
    realtime: RealtimeHub
    push: Push
    notify: Notify  # `messaging.notify.notify`, for domains messaging depends on
    config: LiveConfig
    reads: ReadYourWrites  # where replica reads go, and players' own writes (kit.replicas)
    webhook_intake: EventIntake  # checked webhook deliveries stored together
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    closers: list[object] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, wiring: Wiring | None = None) -> Runtime:
        """Every adapter, from `settings`, with the platform's wiring (or `wiring`). Raises
        `WiringError` when a contribution is missing or declared twice."""
        if wiring is None:
            from playerplatform.wiring import platform_wiring  # it imports every domain

            wiring = platform_wiring()
        from playerplatform.config.live import (
            LiveConfig,  # its segments reach auth, which reaches us
        )
        from playerplatform.messaging.notify import notify  # it reaches auth, which needs us

        db = Database(settings)
        hot = create_hot_store(
            settings.redis_url,
            prefix=settings.redis_prefix,
            cluster=settings.redis_cluster,
            near_prefixes=NEAR_PREFIXES,
            timeout=settings.redis_timeout_seconds,
        )
        objects = create_object_store(settings)
        views = Views(
            hot,
            primary_position=db.replicas.primary_position if db.replicas.configured else None,
        )
        db.commit_hooks.append(views.after_commit)
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
            twitch_app=TwitchApp(settings, http),
            objects=objects,
            jobs=JobSystem(settings, db, job_registry=wiring.jobs),
            scanner=create_scanner(settings),
            leaderboards=LiveBoards(settings, db, hot),
            views=views,
            first_sign_ins=ClaimBatcher(db),
            wiring=wiring,
            text_filter=build_text_filter(settings),
            realtime=create_hub(settings),
            push=create_push(settings),
            notify=notify,
            config=LiveConfig(db, hot, catch_up_seconds=settings.config_catch_up_seconds),
            reads=ReadYourWrites(db.replicas, hot, subject_of=token_subject),
            webhook_intake=EventIntake(db, objects, max_attempts=settings.webhook_max_attempts),
        )

    async def start(self) -> None:
        await self.keys.load(create_if_missing=True)
        await self.objects.start()
        await self.leaderboards.start()
        await self.config.start()
        await self.db.replicas.start()

    async def close(self) -> None:
        await self.jobs.close()  # first: jobs in flight still use everything below
        await self.config.close()
        await self.leaderboards.close()
        await self.objects.close()
        await self.scanner.close()
        await self.realtime.close()
        await self.push.close()
        await self.http.aclose()
        await self.limiter.close()
        await self.hot.close()
        await self.db.dispose()
