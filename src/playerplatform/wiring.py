"""The platform's wiring: every domain's contributions, in one list (`DOMAINS`). The
composition root (`Runtime.build`, `create_app`) builds them with `platform_wiring()`; nothing
registers itself when a module is imported. `Wiring.of` (`playerplatform.contributions`)
refuses to start when a contribution is malformed, declared twice, or needs something no
domain provides (a schedule whose queue has no handler, a route served twice).

How a new domain (messaging, webhooks, drops, safety, config, privacy, ...) plugs in:

1. Write the package as every domain is written (`router.py`, `service.py`,
   `repository.py`, `schemas.py`, `models.py`, `jobs.py`); its tables go into
   `playerplatform.models` and a migration.
2. Declare what it contributes here, as a `Domain` next to the others, and add it to
   `DOMAINS`: its routers (`Mount("playerplatform.<domain>.router:router", API_PREFIX)`,
   named so that only an app imports them), job handlers (the
   functions stay in its `jobs.py`; `JobHandler` names their queue and payload kind), periodic
   work (`Schedule`: a cron expression, a queue, a kind), merge hooks, readiness checks,
   sections of the admin user detail, paths whose bodies are not JSON.
3. A domain with operator commands adds its click group to `playerplatform.cli.COMMANDS`
   (loaded only when used, so the command line starts fast).

A new kind of contribution (privacy exporters, say) is described in
`playerplatform.contributions`: a field on `Domain` and on `Wiring`, gathered and checked in
`Wiring.of`, read by its users from `runtime.wiring`.

Tests run the platform with contributions of their own through `platform_wiring(extra)`,
passed to `create_app(settings, wiring=...)` or `Runtime.build(settings, wiring)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from playerplatform.audit import privacy as audit_privacy
from playerplatform.auth import email as auth_email
from playerplatform.auth import jobs as auth_jobs
from playerplatform.auth import privacy as auth_privacy
from playerplatform.auth import second_factor_privacy
from playerplatform.commerce import grants as commerce_grants
from playerplatform.commerce import jobs as commerce_jobs
from playerplatform.commerce import privacy as commerce_privacy
from playerplatform.config import privacy as config_privacy
from playerplatform.contributions import (
    Domain,
    Exporter,
    LinkHook,
    MergeHook,
    Mount,
    ReadyCheck,
    UserDetailSection,
    Wiring,
)
from playerplatform.drops import grants as drops_grants
from playerplatform.drops import jobs as drops_jobs
from playerplatform.drops import privacy as drops_privacy
from playerplatform.jobs import maintenance
from playerplatform.jobs import privacy as jobs_privacy
from playerplatform.jobs.registry import JobHandler, Schedule
from playerplatform.kit.objects import local as local_objects
from playerplatform.leaderboards import jobs as leaderboards_jobs
from playerplatform.leaderboards import moderation as leaderboards_moderation
from playerplatform.leaderboards import privacy as leaderboards_privacy
from playerplatform.messaging import jobs as messaging_jobs
from playerplatform.messaging import mail as messaging_mail
from playerplatform.messaging import notify as messaging_notify
from playerplatform.messaging import privacy as messaging_privacy
from playerplatform.privacy import jobs as privacy_jobs
from playerplatform.privacy import records as privacy_records
from playerplatform.privacy import service as privacy_service
from playerplatform.safety import attachments as safety_attachments
from playerplatform.safety import jobs as safety_jobs
from playerplatform.safety import merge as safety_merge
from playerplatform.safety import privacy as safety_privacy
from playerplatform.ugc import jobs as ugc_jobs
from playerplatform.ugc import merge as ugc_merge
from playerplatform.ugc import privacy as ugc_privacy
from playerplatform.ugc import scanning as ugc_scanning
from playerplatform.ugc import service as ugc_service
from playerplatform.users import merge as users_merge
from playerplatform.users import privacy as users_privacy
from playerplatform.webhooks import processing as webhooks_processing
from playerplatform.webhooks import service as webhooks_service

API_PREFIX = "/api/v1"

OPS = Domain(
    "ops",
    routers=[Mount("playerplatform.ops.router:router")],
    ready_checks=[
        ReadyCheck("database", lambda rt: rt.db.ping()),
        ReadyCheck("hot_store", lambda rt: rt.hot.ping()),
    ],
)

OBJECTS = Domain(
    "objects",
    routers=[Mount("playerplatform.kit.objects.router:router")],  # the local store's signed URLs
    ready_checks=[ReadyCheck("objects", lambda rt: rt.objects.ping())],
    body_limit_exempt=local_objects.BODY_LIMIT_EXEMPT,
)

AUTH = Domain(
    "auth",
    routers=[
        Mount("playerplatform.auth.router:router", API_PREFIX),
        Mount("playerplatform.auth.router:admin_router", API_PREFIX),  # service accounts
        # The pages that verification and reset mails link to.
        Mount("playerplatform.auth.pages:router"),
    ],
    job_handlers=[
        JobHandler(
            auth_email.RESET_QUEUE, auth_jobs.send_password_reset, kind=auth_email.RESET_KIND
        ),
        JobHandler(maintenance.QUEUE, auth_jobs.prune_sign_ins, kind=auth_jobs.PRUNE_KIND),
    ],
    schedules=[
        Schedule("auth_prune", "*/5 * * * *", queue=maintenance.QUEUE, kind=auth_jobs.PRUNE_KIND)
    ],
    # First among the erasers: it signs the player out under the canonical id they still have.
    exporters=[
        Exporter(
            "auth",
            auth_privacy.TABLES,
            auth_privacy.export_auth,
            auth_privacy.erase_auth,
        ),
        Exporter(
            "second_factors",
            second_factor_privacy.TABLES,
            second_factor_privacy.export_second_factors,
            second_factor_privacy.erase_second_factors,
        ),
    ],
)

USERS = Domain(
    "users",
    routers=[Mount("playerplatform.users.router:router", API_PREFIX)],
    merge_hooks=[MergeHook("users", users_merge.merge_users_domain)],
    exporters=[
        Exporter(
            "users", users_privacy.TABLES, users_privacy.export_users, users_privacy.erase_users
        )
    ],
)

ADMIN = Domain(
    "admin",
    routers=[
        Mount("playerplatform.admin.console:router"),
        Mount("playerplatform.admin.router:router", API_PREFIX),
    ],
)

AUDIT = Domain(
    "audit",
    routers=[Mount("playerplatform.audit.router:router", API_PREFIX)],
    exporters=[
        Exporter(
            "audit", audit_privacy.TABLES, audit_privacy.export_audit, audit_privacy.erase_audit
        )
    ],
)

JOBS = Domain(
    "jobs",
    routers=[Mount("playerplatform.jobs.router:router", API_PREFIX)],
    job_handlers=[JobHandler(maintenance.QUEUE, maintenance.prune_jobs, kind="prune_jobs")],
    schedules=[Schedule("jobs_prune", "*/5 * * * *", queue=maintenance.QUEUE, kind="prune_jobs")],
    ready_checks=[ReadyCheck("broker", lambda rt: rt.jobs.ping())],
    exporters=[Exporter("jobs", (), jobs_privacy.export_jobs, jobs_privacy.erase_jobs)],
)

MESSAGING = Domain(
    "messaging",
    routers=[
        Mount("playerplatform.messaging.router:router", API_PREFIX),
        Mount("playerplatform.messaging.admin_router:router", API_PREFIX),
        Mount("playerplatform.messaging.realtime:router", API_PREFIX),  # the WebSocket
    ],
    job_handlers=[
        JobHandler(
            messaging_mail.MAIL_QUEUE, messaging_jobs.deliver_mail, kind=messaging_mail.MAIL_KIND
        ),
        JobHandler(
            messaging_notify.NOTIFY_QUEUE,
            messaging_jobs.deliver_notification,
            kind=messaging_notify.NOTIFY_KIND,
        ),
        JobHandler(
            messaging_notify.NOTIFY_QUEUE, messaging_jobs.fire_broadcasts, kind="fire_broadcasts"
        ),
        JobHandler(messaging_notify.NOTIFY_QUEUE, messaging_jobs.prune_events, kind="prune_events"),
    ],
    schedules=[
        Schedule(
            "messaging_fire_broadcasts",
            "* * * * *",
            queue=messaging_notify.NOTIFY_QUEUE,
            kind="fire_broadcasts",
        ),
        Schedule(
            "messaging_prune_events",
            "23 * * * *",
            queue=messaging_notify.NOTIFY_QUEUE,
            kind="prune_events",
        ),
    ],
    exporters=[
        Exporter(
            "messaging",
            messaging_privacy.TABLES,
            messaging_privacy.export_messaging,
            messaging_privacy.erase_messaging,
        )
    ],
)

COMMERCE = Domain(
    "commerce",
    routers=[Mount("playerplatform.commerce.router:router", API_PREFIX)],
    job_handlers=[
        JobHandler("grant_entitlement", commerce_jobs.grant_entitlement),
        JobHandler("revoke_entitlement", commerce_jobs.revoke_entitlement),
        JobHandler("revoke_entitlement", commerce_jobs.reconcile_refunds, kind="reconcile"),
        JobHandler("revoke_entitlement", commerce_jobs.purge_idempotency, kind="purge_idempotency"),
    ],
    schedules=[
        Schedule("commerce_reconcile", "* * * * *", queue="revoke_entitlement", kind="reconcile"),
        Schedule(
            "commerce_purge_idempotency",
            "17 * * * *",
            queue="revoke_entitlement",
            kind="purge_idempotency",
        ),
    ],
    merge_hooks=[MergeHook("commerce", commerce_grants.merge_commerce)],
    user_detail_sections=[
        UserDetailSection("entitlements", commerce_grants.entitlements_section),
        UserDetailSection("balances", commerce_grants.balances_section),
        UserDetailSection("orders", commerce_grants.orders_section),
    ],
    exporters=[
        Exporter(
            "commerce",
            commerce_privacy.TABLES,
            commerce_privacy.export_commerce,
            commerce_privacy.erase_commerce,
        )
    ],
)

LEADERBOARDS = Domain(
    "leaderboards",
    routers=[Mount("playerplatform.leaderboards.router:router", API_PREFIX)],
    job_handlers=[
        JobHandler(leaderboards_jobs.QUEUE, leaderboards_jobs.write_scores_behind, kind="flush"),
        JobHandler(leaderboards_jobs.QUEUE, leaderboards_jobs.close_season, kind="close"),
    ],
    merge_hooks=[MergeHook("leaderboards", leaderboards_moderation.merge_leaderboards)],
    exporters=[
        Exporter(
            "leaderboards",
            leaderboards_privacy.TABLES,
            leaderboards_privacy.export_leaderboards,
            leaderboards_privacy.erase_leaderboards,
        )
    ],
)

UGC = Domain(
    "ugc",
    routers=[Mount("playerplatform.ugc.router:router", API_PREFIX)],
    job_handlers=[
        JobHandler(ugc_service.SCAN_QUEUE, ugc_jobs.scan_content),
        JobHandler(ugc_service.SCAN_QUEUE, ugc_jobs.purge_drafts, kind="purge_drafts"),
        JobHandler(
            ugc_scanning.REVIEW_QUEUE, ugc_jobs.review_submission, kind=ugc_scanning.REVIEW_KIND
        ),
    ],
    schedules=[
        Schedule(
            "ugc_purge_drafts", "*/10 * * * *", queue=ugc_service.SCAN_QUEUE, kind="purge_drafts"
        ),
    ],
    merge_hooks=[MergeHook("ugc", ugc_merge.merge_ugc)],
    exporters=[
        Exporter(
            "ugc",
            ugc_privacy.TABLES,
            ugc_privacy.export_ugc,
            ugc_privacy.erase_ugc,
            files=ugc_privacy.export_ugc_files,
        )
    ],
)

CONFIG = Domain(
    "config",
    routers=[Mount("playerplatform.config.router:router", API_PREFIX)],
    exporters=[
        Exporter(
            "config",
            config_privacy.TABLES,
            config_privacy.export_config,
            config_privacy.erase_config,
        )
    ],
)

PRIVACY = Domain(
    "privacy",
    routers=[Mount("playerplatform.privacy.router:router", API_PREFIX)],
    job_handlers=[
        JobHandler(
            privacy_service.QUEUE, privacy_jobs.build_export, kind=privacy_service.EXPORT_KIND
        ),
        JobHandler(
            privacy_service.QUEUE, privacy_jobs.erase_player, kind=privacy_service.ERASE_KIND
        ),
    ],
    exporters=[
        Exporter(
            "privacy",
            ("privacy_requests",),
            privacy_service.export_requests,
            privacy_service.erase_requests,
        ),
        Exporter("records", (), privacy_records.export_records, privacy_records.erase_records),
    ],
)

SAFETY = Domain(
    "safety",
    routers=[
        Mount("playerplatform.safety.router:router", API_PREFIX),
        Mount("playerplatform.safety.moderation_router:router", API_PREFIX),
    ],
    job_handlers=[
        JobHandler(
            safety_attachments.SCAN_QUEUE,
            safety_jobs.scan_feedback_attachment,
            kind=safety_attachments.SCAN_KIND,
        ),
    ],
    merge_hooks=[MergeHook("safety", safety_merge.merge_safety)],
    exporters=[
        Exporter(
            "safety",
            safety_privacy.TABLES,
            safety_privacy.export_safety,
            safety_privacy.erase_safety,
        )
    ],
)

WEBHOOKS = Domain(
    "webhooks",
    routers=[
        Mount("playerplatform.webhooks.router:router", API_PREFIX),
        Mount("playerplatform.webhooks.router:admin_router", API_PREFIX),
    ],
    job_handlers=[
        JobHandler(
            webhooks_service.QUEUE, webhooks_processing.process_event, kind=webhooks_service.KIND
        ),
        JobHandler(
            webhooks_service.QUEUE,
            webhooks_processing.process_events,
            kind=webhooks_service.BATCH_KIND,
        ),
    ],
)

DROPS = Domain(
    "drops",
    routers=[
        Mount("playerplatform.drops.router:router", API_PREFIX),
        Mount("playerplatform.drops.router:admin_router", API_PREFIX),
    ],
    job_handlers=[  # on the webhooks' queue: drops are work that webhooks start
        JobHandler(drops_grants.QUEUE, drops_jobs.fulfil_drops, kind=drops_grants.FULFIL_KIND),
        JobHandler(drops_grants.QUEUE, drops_jobs.grant_linked, kind=drops_grants.LINK_KIND),
        JobHandler(drops_grants.QUEUE, drops_jobs.reconcile, kind=drops_grants.RECONCILE_KIND),
    ],
    schedules=[
        Schedule(
            "drops_reconcile",
            "*/15 * * * *",
            queue=drops_grants.QUEUE,
            kind=drops_grants.RECONCILE_KIND,
        ),
    ],
    merge_hooks=[MergeHook("drops", drops_jobs.merge_drops)],
    link_hooks=[LinkHook("drops", drops_jobs.on_link)],
    exporters=[
        Exporter(
            "drops", drops_privacy.TABLES, drops_privacy.export_drops, drops_privacy.erase_drops
        )
    ],
)

# Routes are matched, merge hooks run and readiness checks are listed in this order.
DOMAINS: tuple[Domain, ...] = (
    OPS,
    OBJECTS,
    AUTH,
    USERS,
    ADMIN,
    AUDIT,
    JOBS,
    MESSAGING,
    COMMERCE,
    LEADERBOARDS,
    UGC,
    SAFETY,
    WEBHOOKS,
    DROPS,
    CONFIG,
    PRIVACY,
)


def platform_wiring(extra: Iterable[Domain] = ()) -> Wiring:
    """The platform's domains, plus `extra` ones (tests, tools), checked together."""
    return Wiring.of((*DOMAINS, *extra))
