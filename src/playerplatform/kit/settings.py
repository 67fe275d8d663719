"""The one settings object. Nothing else in the code base reads the environment."""

from __future__ import annotations

from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/playerplatform.db"
STEAM_PARTNER_URL = "https://partner.steam-api.com"
EPIC_API_URL = "https://api.epicgames.dev"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PP_", extra="ignore", frozen=False)

    # Stores and services: each unset URL selects the embedded adapter.
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = 20
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_prefix: str = "pp:"
    broker_url: str | None = None
    storage_url: str = "file://./var/objects"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    clamd_address: str | None = None
    smtp_url: SecretStr | None = None
    mail_from: str = "Player Platform <no-reply@localhost>"
    public_url: str = "http://127.0.0.1:8080"

    # Platforms.
    steam_app_id: int | None = None
    steam_publisher_key: SecretStr | None = None
    steam_api_url: str = STEAM_PARTNER_URL
    steam_sandbox: bool = False
    steam_block_publisher_banned: bool = True
    epic_client_id: str | None = None
    epic_client_secret: SecretStr | None = None
    epic_deployment_id: str | None = None
    epic_sandbox_id: str | None = None
    epic_jwks_url: str | None = None
    epic_api_url: str = EPIC_API_URL
    twitch_client_id: str | None = None
    twitch_client_secret: SecretStr | None = None
    twitch_eventsub_secret: SecretStr | None = None
    twitch_api_url: str = "https://api.twitch.tv"
    twitch_id_url: str = "https://id.twitch.tv"
    platform_timeout_seconds: float = 10.0

    # Tokens.
    jwt_issuer: str = "player-platform"
    jwt_audience: str = "game-client"
    jwt_algorithm: str = "EdDSA"
    access_token_ttl: int = 1800
    refresh_token_ttl: int = 30 * 24 * 3600
    merge_token_ttl: int = 600
    email_token_ttl: int = 24 * 3600

    # Gateway.
    max_body_bytes: int = 1_048_576
    rate_limit_failed_login: str = "10/minute"
    rate_limit_auth: str = "300/minute"
    rate_limit_write: str = "600/minute"
    rate_limit_read: str = "1200/minute"
    rate_limit_webhook: str = "6000/minute"
    rate_limit_enabled: bool = True
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "info"
    log_json: bool = True
    access_log: bool = True
    # After start-up, hide the objects built so far (modules, routes, models) from the cycle
    # collector and collect less often: full collections over them stalled every request for
    # 50-250 ms. Off in the test suite, which starts many apps in one process.
    gc_tuning: bool = True
    metrics_multiproc_dir: str = "./var/prometheus"

    # Users.
    progression_max_bytes: int = 65_536
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None

    # Embedded job worker (the broker shape runs `playerplatform worker` instead).
    embedded_worker: bool = True

    # Jobs (both shapes) and the scheduler.
    broker_prefix: str = "pp."  # work and delay queue names start with it
    job_concurrency: int = 8  # jobs run at once per process
    job_prefetch: int = 32  # broker deliveries held unacknowledged per worker process
    job_poll_seconds: float = 1.0  # embedded worker: table poll when nothing woke it
    job_lease_seconds: float = 300.0  # embedded claim older than this: its worker died
    job_relay_sweep_seconds: float = 5.0  # relay: table sweep when nothing woke it
    job_redeliver_after_seconds: float = 3600.0  # published, still pending: publish again
    job_retry_base_seconds: float = 2.0
    job_retry_max_seconds: float = 3600.0
    job_shutdown_grace_seconds: float = 30.0
    job_retention_days: float = Field(default=7.0, gt=0)  # done jobs are deleted after this
    scheduler_enabled: bool = True

    # Object storage: the local adapter signs its URLs with this key; unset, a key is
    # generated once and kept in the storage folder (readable only by this user).
    storage_signing_key: SecretStr | None = None
    smtp_timeout_seconds: float = 30.0

    # Commerce (issue: commerce). Add commerce settings inside this section only.
    commerce_ownership_cache_seconds: float = 300.0  # entitlement-check cache entries
    commerce_catalog_cache_seconds: float = 5.0  # per-process copy of the SKU list
    commerce_idempotency_ttl_seconds: float = 24 * 3600.0  # Idempotency-Key answers kept
    commerce_idempotency_wait_seconds: float = 5.0  # a repeat waits this long for the first
    commerce_report_page_size: int = 1000  # GetReport maxresults per poll
    commerce_report_max_pages: int = 20  # GetReport pages per reconciliation run
    commerce_steam_language: str = "en"  # InitTxn language when the client sends none
    # --- end commerce ---

    # Leaderboards. Add leaderboard settings inside this section only.
    leaderboard_flush_seconds: float = 2.0  # write-behind: dirty scores reach the database
    leaderboard_flush_batch: int = 2000  # entries per write-behind statement
    leaderboard_season_cache_seconds: float = 5.0  # per-process copy of each season's rules
    leaderboard_names_cache_seconds: float = 30.0  # display names and bans joined into views
    leaderboard_metadata_max_bytes: int = 2048  # a score's metadata, as compact JSON
    # --- end leaderboards ---

    # User-generated content. Add UGC settings inside this section only.
    ugc_scan_timeout: float = 120.0  # seconds for one clamd command (a whole INSTREAM)
    ugc_upload_url_ttl: int = 900  # seconds a signed upload URL stays valid
    ugc_download_url_ttl: int = 300  # seconds a signed download URL stays valid
    ugc_uploads_per_day: int = 20  # drafts a player may create per 24 hours
    # Drafts never completed are deleted with their uploads this long after they were created.
    ugc_draft_ttl_hours: int = Field(default=24, ge=1)
    ugc_max_bytes_map: int = 200 * 1024 * 1024
    ugc_max_bytes_mod: int = 500 * 1024 * 1024
    ugc_max_bytes_image: int = 20 * 1024 * 1024
    ugc_max_bytes_video: int = 1024 * 1024 * 1024
    ugc_max_bytes_text: int = 1024 * 1024
    ugc_max_bytes_bundle: int = 1024 * 1024 * 1024
    ugc_archive_max_entries: int = 10_000  # files in one map, mod or bundle archive
    ugc_archive_max_ratio: int = 100  # expanded size / compressed size, per entry and overall
    ugc_archive_max_expanded_bytes: int = 4 * 1024 * 1024 * 1024
    ugc_report_threshold: int = 3  # distinct open reporters that hide an item for review
    ugc_trusted_after_approvals: int = 0  # 0: every item waits for a moderator; N: creators
    # with N approved items and nothing removed for cause are published after a clean scan
    ugc_cache_ttl: int = 300  # seconds item metadata stays cached in the hot store
    ugc_hot_feed_size: int = 200  # items kept in the hot feed
    ugc_hot_feed_ttl: int = 60  # seconds before the hot feed is rebuilt
    ugc_hot_window_hours: int = 72  # downloads counted towards "hot"
    # --- end ugc ---

    @field_validator("trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(cidr, strict=False) for cidr in self.trusted_proxies)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def shape(self) -> str:
        """`embedded` when no external store is configured, else `production`."""
        return "embedded" if self.is_sqlite and not self.redis_url else "production"
