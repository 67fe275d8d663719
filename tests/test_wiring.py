"""The composition root refuses to start when a contribution is missing, malformed or
declared twice, and says which domains declared what."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import click
import pytest
from fastapi import APIRouter

from playerplatform import wiring
from playerplatform.app import create_app
from playerplatform.cli import COMMANDS, CommandLine, main
from playerplatform.contributions import (
    Domain,
    MergeHook,
    Mount,
    ReadyCheck,
    UserDetailSection,
    Wiring,
    WiringError,
)
from playerplatform.jobs.registry import JobHandler, Schedule
from playerplatform.kit.settings import Settings
from playerplatform.wiring import platform_wiring


async def _nothing(*_args: Any) -> None:
    return None


def _refused(*extra: Domain) -> str:
    with pytest.raises(WiringError) as refused:
        platform_wiring(extra)
    return str(refused.value)


def test_the_platform_wiring_holds_every_domains_contributions() -> None:
    built = platform_wiring()
    assert [d.name for d in built.domains] == [d.name for d in wiring.DOMAINS]
    assert [h.name for h in built.merge_hooks] == [
        "users",
        "commerce",
        "leaderboards",
        "ugc",
        "safety",
        "drops",
    ]
    assert [h.name for h in built.link_hooks] == ["drops"]
    assert [c.name for c in built.ready_checks] == ["database", "hot_store", "objects", "broker"]
    assert [s.name for s in built.user_detail_sections] == ["entitlements", "balances", "orders"]
    assert set(built.jobs.schedules) == {
        "auth_prune",
        "jobs_prune",
        "commerce_reconcile",
        "commerce_purge_idempotency",
        "ugc_purge_drafts",
        "messaging_fire_broadcasts",
        "messaging_prune_events",
        "drops_reconcile",
    }
    assert built.jobs.unhandled() == []
    assert built.body_limit_exempt == ("/objects/",)


def test_a_start_up_with_a_duplicate_contribution_fails_and_names_both_domains(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = Domain("loyalty", merge_hooks=[MergeHook("commerce", _nothing)])
    monkeypatch.setattr(wiring, "DOMAINS", (*wiring.DOMAINS, second))
    with pytest.raises(WiringError, match="merge hook 'commerce' is declared by both commerce"):
        create_app(settings)


def test_a_schedule_without_a_handler_for_its_jobs_is_refused() -> None:
    orphan = Schedule("send_digest", "0 8 * * *", queue="notification_send", kind="digest")
    message = _refused(Domain("digests", schedules=[orphan]))
    assert "schedule 'send_digest'" in message
    assert "queue 'notification_send' kind 'digest'" in message
    assert "no domain declares a handler" in message

    # With a handler for that kind, or a catch-all handler on the queue, it starts.
    handled = JobHandler("notification_send", _nothing, kind="digest")
    platform_wiring([Domain("digests", schedules=[orphan], job_handlers=[handled])])
    fallback = JobHandler("webhook_processing", _nothing)
    hooks = Schedule("retry_hooks", "* * * * *", queue="webhook_processing", kind="retry")
    platform_wiring([Domain("retries", schedules=[hooks], job_handlers=[fallback])])


def test_a_second_handler_for_a_queue_and_kind_is_refused() -> None:
    again = JobHandler("notification_send", _nothing, kind="email")
    message = _refused(Domain("messaging_copy", job_handlers=[again]))
    assert "queue 'notification_send' kind 'email'" in message
    assert "by both messaging and messaging_copy" in message


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (
            Domain("more_ops", ready_checks=[ReadyCheck("database", _nothing)]),
            "ready check 'database' is declared by both ops and more_ops",
        ),
        (
            Domain("shop", user_detail_sections=[UserDetailSection("balances", _nothing)]),
            "user detail section 'balances' is declared by both commerce and shop",
        ),
        (
            Domain("notes", user_detail_sections=[UserDetailSection("sessions", _nothing)]),
            "'sessions' is a built-in field of the user detail",
        ),
        (
            Domain("jobs_again", schedules=[Schedule("jobs_prune", "* * * * *", "maintenance")]),
            "schedule 'jobs_prune' is declared by both jobs and jobs_again",
        ),
        (Domain("ugc"), "domain 'ugc' is declared by both ugc and ugc"),
        (
            Domain("bad_cron", schedules=[Schedule("nightly", "every night", "maintenance")]),
            "invalid cron expression 'every night'",
        ),
        (
            Domain("bad_queue", job_handlers=[JobHandler("Bad Queue", _nothing)]),
            "invalid queue name 'Bad Queue'",
        ),
        (
            Domain("uploads", body_limit_exempt=["uploads/"]),
            "body-limit exemption 'uploads/' of uploads is not a path prefix",
        ),
    ],
)
def test_a_malformed_or_duplicate_contribution_is_refused(domain: Domain, expected: str) -> None:
    assert expected in _refused(domain)


def test_a_route_served_twice_is_refused() -> None:
    router = APIRouter(prefix="/users")

    @router.get("/me")
    async def me() -> dict[str, str]:
        return {}

    twice = platform_wiring([Domain("profiles", routers=[Mount(router, wiring.API_PREFIX)])])
    with pytest.raises(WiringError) as refused:
        twice.mounts()
    assert str(refused.value) == "route GET /api/v1/users/me is declared by both users and profiles"
    with pytest.raises(WiringError):
        create_app(Settings(), wiring=twice)
    platform_wiring([Domain("profiles", routers=[Mount(router, "/v2")])]).mounts()  # elsewhere


def test_a_router_named_by_a_module_that_does_not_exist_is_refused_without_importing() -> None:
    message = _refused(Domain("loyalty", routers=[Mount("playerplatform.loyalty.router:router")]))
    assert message == (
        "router 'playerplatform.loyalty.router:router' of loyalty: no such module:attribute"
    )
    not_a_router = platform_wiring(
        [Domain("odd", routers=[Mount("playerplatform.wiring:DOMAINS")])]
    )
    with pytest.raises(WiringError, match="is not a FastAPI router"):
        not_a_router.mounts()


def test_commands_and_workers_do_not_import_the_routers() -> None:
    """Building the wiring and a runtime imports no router module: only an app does."""
    code = (
        "import sys; from playerplatform.wiring import platform_wiring; platform_wiring(); "
        "print(sorted(m for m in sys.modules if m.endswith(('router', '.pages', '.console'))))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert imported == "[]"


def test_extra_contributions_come_after_the_platforms() -> None:
    built = Wiring.of(
        [
            Domain("first", ready_checks=[ReadyCheck("cache", _nothing)]),
            Domain("second", ready_checks=[ReadyCheck("queue", _nothing)]),
        ]
    )
    assert [c.name for c in built.ready_checks] == ["cache", "queue"]
    assert built.jobs.handlers == {} and built.mounts() == ()


def test_a_command_group_in_a_module_that_does_not_exist_stops_the_command_line() -> None:
    with pytest.raises(RuntimeError, match="module playerplatform.loyalty.cli does not exist"):
        CommandLine(commands_by_reference={"loyalty": "playerplatform.loyalty.cli:group"})


def test_every_declared_command_group_loads() -> None:
    context = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert isinstance(command, click.Command), name
    assert set(COMMANDS) <= set(main.list_commands(context))


def test_a_command_reference_that_is_not_a_command_is_refused_when_used() -> None:
    group = CommandLine(commands_by_reference={"ops": "playerplatform.cli:COMMANDS"})
    with pytest.raises(RuntimeError, match="playerplatform.cli:COMMANDS is not a click command"):
        group.get_command(click.Context(group), "ops")
