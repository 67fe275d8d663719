"""What a domain contributes to the platform, and the checked whole the composition root
builds from every domain's declaration (`playerplatform.wiring`).

A `Domain` names its contributions by kind: routers (`Mount`), job handlers (`JobHandler`)
and periodic work (`Schedule`), merge hooks (`MergeHook`), link hooks (`LinkHook`), readiness
checks (`ReadyCheck`), sections of the admin user detail (`UserDetailSection`), paths exempt
from the JSON body limit, and each domain's part of a player's data export and erasure
(`Exporter`). `Wiring.of(domains)` checks them together and refuses to build (`WiringError`, before
anything serves) when one is malformed, named twice, or needs something no domain provides:
a schedule whose queue has no handler for its jobs, a router module that does not exist, a
section that would overwrite a built-in field. Routers are named by reference and imported
only by `Wiring.mounts()`, when an application is made (commands and job workers never serve a
route, and building every route is a fifth of their start); a route declared twice is refused
there, before anything serves. What the running platform uses is `runtime.wiring`.

A new kind of contribution (the exporters of a privacy export, say) is a field of `Domain`
holding small frozen records with a `name`, a field of `Wiring` with every domain's, gathered
by `_unique` in `Wiring.of` (which refuses a name two domains declare), plus the checks the
kind needs; its users read it from `runtime.wiring`.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute

from playerplatform.admin.service import check_section_name
from playerplatform.jobs.registry import JobHandler, JobRegistry, Schedule
from playerplatform.kit.db import UnitOfWork
from playerplatform.references import reference_exists

if TYPE_CHECKING:
    from playerplatform.runtime import Runtime
    from playerplatform.users.models import User


class WiringError(RuntimeError):
    """A contribution is malformed, declared twice, or missing: the platform does not start."""


MoveAccount = Callable[[UnitOfWork, "Runtime", "User", "User"], Awaitable[dict[str, Any] | None]]
OnLink = Callable[[UnitOfWork, "Runtime", "User", str, str], Awaitable[None]]
Ping = Callable[["Runtime"], Awaitable[object]]
LoadSection = Callable[[UnitOfWork, uuid.UUID], Awaitable[Any]]
ExportPart = Callable[[UnitOfWork, "Runtime", uuid.UUID], Awaitable[Any]]
ErasePart = Callable[[UnitOfWork, "Runtime", "ErasureSubject"], Awaitable[None]]
ExportFiles = Callable[[UnitOfWork, "Runtime", uuid.UUID], Awaitable[list[tuple[str, str]]]]


@dataclass(frozen=True, slots=True)
class ErasureSubject:
    """The player being erased: their internal id, the canonical id they had, the pseudonym
    that replaces it in the rows the studio keeps, and their personal strings that must not
    survive anywhere: `identifiers` (email addresses and provider ids, each the player's
    alone) and `personal` (those and the display name, which other text may contain too)."""

    user_id: uuid.UUID
    canonical_id: str
    pseudonym: str
    personal: frozenset[str]
    identifiers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Mount:
    """A router served under `prefix` (`/api/v1` for the API, empty for ops routes): the
    router itself, or its `module:attribute` reference, imported by `load`."""

    router: APIRouter | str
    prefix: str = ""

    def load(self) -> APIRouter:
        if isinstance(self.router, APIRouter):
            return self.router
        module, _, attribute = self.router.partition(":")
        router = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(router, APIRouter):
            raise WiringError(f"router {self.router!r} is not a FastAPI router")
        return router


@dataclass(frozen=True, slots=True)
class MergeHook:
    """What a domain moves when two accounts merge: `POST /auth/merge` runs every hook in the
    merge's one transaction, `move(uow, runtime, source, target)`, so an account's rows move
    together or not at all. It returns a short summary for the audit row, or None."""

    name: str
    move: MoveAccount


@dataclass(frozen=True, slots=True)
class LinkHook:
    """What a domain does when a platform identity is linked to an account: `POST
    /auth/links/{provider}` runs every hook in the link's transaction,
    `linked(uow, runtime, user, provider, provider_id)` (Twitch drops waiting for that
    account, say). A hook should queue work rather than do it, so it never fails a link."""

    name: str
    linked: OnLink


@dataclass(frozen=True, slots=True)
class ReadyCheck:
    """A dependency `/readyz` checks: `check(runtime)` returns within a couple of seconds when
    the dependency answers and raises otherwise."""

    name: str
    check: Ping


@dataclass(frozen=True, slots=True)
class UserDetailSection:
    """A section of the admin user detail, filled by `load(uow, user_id)` (JSON-ready)."""

    name: str
    load: LoadSection


@dataclass(frozen=True, slots=True)
class Exporter:
    """A domain's part of a player's data: `export(uow, runtime, user_id)` returns it as JSON
    (one file of the export's zip, named after the exporter; None: no file), `erase(uow, runtime, subject)`
    deletes it or keys what the studio must keep by the pseudonym, and `files` (optional)
    names objects to copy into the zip as `(path in the zip, object key)`. `tables` are the
    tables holding a user id that this exporter answers for: a table no exporter names fails
    the privacy tests, so a new domain cannot be forgotten."""

    name: str
    tables: tuple[str, ...]
    export: ExportPart
    erase: ErasePart
    files: ExportFiles | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    """Everything one domain contributes; the composition root lists one per domain."""

    name: str
    routers: Sequence[Mount] = ()
    job_handlers: Sequence[JobHandler] = ()
    schedules: Sequence[Schedule] = ()
    merge_hooks: Sequence[MergeHook] = ()
    link_hooks: Sequence[LinkHook] = ()
    ready_checks: Sequence[ReadyCheck] = ()
    user_detail_sections: Sequence[UserDetailSection] = ()
    body_limit_exempt: Sequence[str] = ()  # path prefixes whose bodies are not JSON
    exporters: Sequence[Exporter] = ()  # the domain's part of a player's export and erasure


@dataclass(frozen=True, slots=True)
class Wiring:
    """Every domain's contributions, checked together; built once, at start-up."""

    domains: tuple[Domain, ...]
    jobs: JobRegistry
    merge_hooks: tuple[MergeHook, ...]  # run in this order
    link_hooks: tuple[LinkHook, ...]
    ready_checks: tuple[ReadyCheck, ...]
    user_detail_sections: tuple[UserDetailSection, ...]
    body_limit_exempt: tuple[str, ...]
    exporters: tuple[Exporter, ...] = ()  # run in this order, for exports and erasures

    @classmethod
    def of(cls, domains: Iterable[Domain]) -> Wiring:
        """Check `domains`' contributions and gather them; `WiringError` says what is wrong
        and which domains declared it."""
        domains = tuple(domains)
        _unique("domain", ((d.name, d.name, d) for d in domains))
        sections = _unique("user detail section", _named(domains, "user_detail_sections"))
        for section in sections:
            try:
                check_section_name(section.name)
            except ValueError as exc:
                raise WiringError(f"user detail section: {exc}") from None
        _check_router_references(domains)
        return cls(
            domains=domains,
            jobs=_job_registry(domains),
            merge_hooks=_unique("merge hook", _named(domains, "merge_hooks")),
            link_hooks=_unique("link hook", _named(domains, "link_hooks")),
            ready_checks=_unique("ready check", _named(domains, "ready_checks")),
            user_detail_sections=sections,
            body_limit_exempt=_exempt_prefixes(domains),
            exporters=_exporters(domains),
        )

    def mounts(self) -> tuple[Mount, ...]:
        """Every domain's routers, imported now, in declaration order; one method and path
        served by two routes is refused (the second would never be reached)."""
        served: dict[tuple[str, str], str] = {}
        mounts = []
        for domain in self.domains:
            for mount in domain.routers:
                router = mount.load()
                for route in router.routes:
                    if not isinstance(route, APIRoute):
                        continue
                    for method in sorted(route.methods):
                        where = (method, mount.prefix + route.path)
                        if where in served:
                            raise WiringError(
                                f"route {method} {where[1]} is declared by both "
                                f"{served[where]} and {domain.name}"
                            )
                        served[where] = domain.name
                mounts.append(Mount(router, mount.prefix))
        return tuple(mounts)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _named(domains: Sequence[Domain], kind: str) -> Iterable[tuple[str, str, Any]]:
    """(domain, name, contribution) for every contribution of one kind (a `Domain` field)."""
    for domain in domains:
        for item in getattr(domain, kind):
            yield domain.name, item.name, item


def _unique(kind: str, entries: Iterable[tuple[str, str, N]]) -> tuple[N, ...]:
    """The contributions in declaration order; a name declared twice is refused."""
    seen: dict[str, str] = {}
    out: list[N] = []
    for domain, name, item in entries:
        if name in seen:
            raise WiringError(f"{kind} {name!r} is declared by both {seen[name]} and {domain}")
        seen[name] = domain
        out.append(item)
    return tuple(out)


def _job_registry(domains: Sequence[Domain]) -> JobRegistry:
    declared: dict[tuple[str, str | None], str] = {}
    for domain in domains:
        for handler in domain.job_handlers:
            where = (handler.queue, handler.kind)
            if where in declared:
                raise WiringError(
                    f"job handler for queue {handler.queue!r} kind {handler.kind!r} is declared"
                    f" by both {declared[where]} and {domain.name}"
                )
            declared[where] = domain.name
    _unique("schedule", _named(domains, "schedules"))
    try:
        registry = JobRegistry(
            (h for d in domains for h in d.job_handlers),
            (s for d in domains for s in d.schedules),
        )
    except ValueError as exc:
        raise WiringError(str(exc)) from None
    for schedule in registry.unhandled():
        kind = f" kind {schedule.kind!r}" if schedule.kind else ""
        raise WiringError(
            f"schedule {schedule.name!r} enqueues jobs on queue {schedule.queue!r}{kind},"
            " which no domain declares a handler for"
        )
    return registry


def _check_router_references(domains: Sequence[Domain]) -> None:
    """A router named by a module that does not exist stops the platform at once, found
    without importing it."""
    for domain in domains:
        for mount in domain.routers:
            if isinstance(mount.router, str) and not reference_exists(mount.router):
                raise WiringError(
                    f"router {mount.router!r} of {domain.name}: no such module:attribute"
                )


def _exporters(domains: Sequence[Domain]) -> tuple[Exporter, ...]:
    """Every domain's exporters; a name or a table claimed twice is refused (the export would
    hold it twice, or erasure would run two rules over it)."""
    exporters = _unique("exporter", _named(domains, "exporters"))
    _unique(
        "exporter table",
        ((e.name, table, e) for e in exporters for table in e.tables),
    )
    return exporters


def _exempt_prefixes(domains: Sequence[Domain]) -> tuple[str, ...]:
    prefixes: list[str] = []
    for domain in domains:
        for prefix in domain.body_limit_exempt:
            if not prefix.startswith("/") or len(prefix) < 2:
                raise WiringError(
                    f"body-limit exemption {prefix!r} of {domain.name} is not a path prefix"
                )
            prefixes.append(prefix)
    return tuple(prefixes)
