"""The one settings object. Nothing else in the code base reads the environment."""

from __future__ import annotations

from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Literal

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
    # PostgreSQL: connecting, and waiting for a pooled connection; past it, 503 `unavailable`.
    database_timeout_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL: a statement with no answer after this long fails and its connection is
    # dropped (a server gone silent under open connections); a request answers 503.
    database_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    # PostgreSQL read replicas (comma-separated URLs): routes declared `replica_reads` read
    # from one that is up and within `replica_max_lag_seconds`; a player's reads after their
    # own write wait for a replica that has replayed it, or go to the primary (kit.replicas).
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    replica_check_seconds: float = Field(default=1.0, gt=0)  # each process checks this often
    # A read on a replica still running after this long is cancelled there and read again from
    # the primary (a replica replaying a lock, or paused under one, holds reads until then).
    replica_read_timeout_seconds: float = Field(default=5.0, gt=0)
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_prefix: str = "pp:"
    # Connecting to Redis, waiting for a pooled connection and each reply; a Redis that stops
    # answering then fails requests at once (503 `unavailable`) until it answers again.
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
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
    # Ended sessions and expired tokens are deleted this long after they ended (`auth_prune`).
    session_retention_days: float = Field(default=7.0, gt=0)

    # HTTP server (`playerplatform serve`): "granian" or "uvicorn" (`playerplatform.serving`).
    server: Literal["granian", "uvicorn"] = "granian"
    header_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # A stopping server process that is not gone within this long is killed: it finishes its
    # requests and, in the embedded shape, its jobs (`job_shutdown_grace_seconds`) before.
    server_stop_timeout_seconds: float = Field(default=40.0, gt=0)

    # Gateway.
    max_body_bytes: int = 1_048_576
    # A request body must arrive within this many seconds (408 `request_timeout`); on the
    # signed-upload paths, each chunk within this long of the last.
    body_read_timeout_seconds: float = Field(default=30.0, gt=0)
    # API requests one client IP may have in flight in one process (more: 429); 0: no cap.
    max_requests_per_ip: int = Field(default=64, ge=0)
    rate_limit_failed_login: str = "10/minute"
    # Seconds an attempt on an account failing from everywhere waits (it is never locked).
    rate_limit_failed_login_slowdown: float = Field(default=1.0, ge=0, le=10)
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
    # Serve compiled routes straight from their declarations (`kit.dispatch`); false: FastAPI's own path.
    fast_dispatch: bool = True
    # After start-up, hide the objects built so far (modules, routes, models) from the cycle
    # collector and collect less often: full collections over them stalled every request for
    # 50-250 ms. Off in the test suite, which starts many apps in one process.
    gc_tuning: bool = True
    metrics_multiproc_dir: str = "./var/prometheus"
    # Metrics are private by default: `playerplatform serve` exposes them on their own
    # listener (`metrics_host`:`metrics_port`, port 0: none), and `/metrics` on the API port
    # answers only to `Authorization: Bearer <metrics_token>` (unset: 404 there).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_token: SecretStr | None = None

    # Users.
    progression_max_bytes: int = 65_536
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    # Staff (moderators, admins) sign in only by email with a TOTP code (RFC 6238).
    staff_totp_required: bool = False

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

    # Commerce. Add commerce settings inside this section only.
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
    # An archive inside an archive: refused, inspected with the same rules, or allowed as is.
    ugc_archive_nested: Literal["refuse", "inspect", "allow"] = "refuse"
    ugc_archive_max_depth: int = Field(default=2, ge=1)  # nesting levels `inspect` opens
    # sha256 of files never published (comma-separated), besides the antivirus test file
    ugc_deny_sha256: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Reports are weighted (see docs/ugc.md): the open reports' weight that hides an item
    # until a moderator decides. A mature, verified reporter with no history weighs 1.
    ugc_report_threshold: float = Field(default=3.0, gt=0)
    ugc_reporter_mature_days: float = Field(default=30.0, gt=0)  # account age of full weight
    ugc_report_unverified_factor: float = Field(default=0.25, ge=0, le=1)  # guests' weight
    ugc_report_rate_account: str = "10/hour"  # reports one account may file
    ugc_report_rate_ip: str = "30/hour"  # reports filed from one client IP
    ugc_trusted_after_approvals: int = 0  # 0: every item waits for a moderator; N: creators
    # with N approved items and nothing removed for cause are published after a clean scan
    ugc_cache_ttl: int = 300  # seconds item metadata stays cached in the hot store
    ugc_listing_cache_seconds: float = 10.0  # browse pages and the hot feed: counters lag this
    ugc_hot_feed_size: int = 200  # items kept in the hot feed
    ugc_hot_feed_ttl: int = 60  # seconds before the hot feed is rebuilt
    ugc_hot_window_hours: int = 72  # downloads counted towards "hot"
    # --- end ugc ---

    # Messaging. Add messaging settings inside this section only.
    messaging_default_email: bool = False  # a kind's email channel until the player chooses
    messaging_default_push: bool = True  # a kind's push channel until the player chooses
    messaging_broadcast_batch: int = 1000  # players a scheduled broadcast's fan-out reads
    realtime_max_sockets_per_player: int = Field(default=5, ge=1)  # per API process
    realtime_check_seconds: float = Field(default=5.0, gt=0)  # session re-checked (ban, logout)
    realtime_ping_seconds: float = Field(default=20.0, gt=0)  # server ping; no pong: closed
    realtime_auth_seconds: float = Field(default=10.0, gt=0)  # to send the first auth frame
    realtime_max_frame_bytes: int = 4096  # a client frame larger than this closes the socket
    realtime_replay_limit: int = 1000  # events replayed by `?after=`
    realtime_event_retention_hours: float = Field(default=72.0, gt=0)
    # Push: FCM HTTP v1 (a service-account JSON file) and APNs (a .p8 key); unset: off.
    push_fcm_url: str = "https://fcm.googleapis.com"
    push_fcm_project_id: str | None = None
    push_fcm_service_account_file: str | None = None
    push_apns_url: str = "https://api.push.apple.com"
    push_apns_key_file: str | None = None
    push_apns_key_id: str | None = None
    push_apns_team_id: str | None = None
    push_apns_topic: str | None = None  # the app's bundle id
    push_max_attempts: int = Field(default=4, ge=1)  # per device, on 429 and 5xx
    push_retry_base_seconds: float = 0.5
    # --- end messaging ---
    # Player safety. Add safety settings inside this section only.
    safety_report_rate: str = "20/hour"  # reports one account may file
    # The moderator who imposed a sanction cannot decide its appeal while other staff exist.
    safety_appeal_second_moderator: bool = True
    feedback_attachment_max_bytes: int = 10 * 1024 * 1024  # one feedback attachment
    feedback_upload_url_ttl: int = 900  # seconds a signed attachment upload URL stays valid
    feedback_download_url_ttl: int = 300  # seconds a staff download link stays valid
    # --- end safety ---
    # Webhooks and drops. Add webhook and drops settings inside this section only.
    # Secrets of the two webhook schemes; `..._previous` is accepted too during a rotation.
    twitch_eventsub_secret_previous: SecretStr | None = None
    twitch_organization_id: str | None = None  # the Drops owner, in EventSub conditions
    studio_webhook_secret: SecretStr | None = None  # unset: the studio webhook is off (404)
    studio_webhook_secret_previous: SecretStr | None = None
    webhook_max_age_seconds: int = 600  # messages signed longer ago than this are refused
    webhook_max_attempts: int = Field(default=8, ge=1)  # processing tries before "failed"
    drops_fulfil_max_attempts: int = Field(default=8, ge=1)  # Helix PATCH tries per id
    drops_fulfil_retry_seconds: float = 30.0  # first retry of ids Twitch failed to update
    # --- end webhooks and drops ---
    # Live configuration. Add config settings inside this section only.
    # Every process reads the state version from the database this often and reloads when it
    # is behind (the catch-up for a missed change message; see config/live.py).
    config_catch_up_seconds: float = Field(1.0, gt=0)
    # --- end config ---

    # Privacy: data export and erasure. Add privacy settings inside this section only.
    erasure_grace_days: float = Field(30, ge=0)  # signing in during it cancels an erasure
    # What erasure does with the player's UGC: delete it, or keep published items anonymously.
    erasure_ugc: Literal["remove", "keep_anonymous"] = "remove"
    privacy_export_url_ttl: int = Field(259_200, ge=60, le=604_800)  # download link, seconds
    # --- end privacy ---

    # Text filter (display names, UGC names, tags, descriptions): the studio's own lists.
    text_filter_deny: Annotated[list[str], NoDecode] = Field(default_factory=list)
    text_filter_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator(
        "trusted_proxies",
        "cors_origins",
        "database_replica_urls",
        "ugc_deny_sha256",
        "text_filter_deny",
        "text_filter_allow",
        mode="before",
    )
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
