"""The config document: read, change (with If-Match), history with diffs, rollback. Every
change is a new version with its author and reason, audited, and reaches every API process
through the in-process layer (`live`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from playerplatform.audit import service as audit
from playerplatform.config import repository, validation
from playerplatform.config.models import ConfigVersion
from playerplatform.config.schemas import (
    Change,
    ConfigIn,
    ConfigOut,
    HistoryCursor,
    HistoryItem,
    OverrideOut,
    RollbackIn,
)
from playerplatform.kit.db import UnitOfWork, utcnow
from playerplatform.kit.errors import NotFound, PreconditionFailed
from playerplatform.kit.http import ClientInfo
from playerplatform.kit.pagination import Page, PageParams, decode_cursor, paginate
from playerplatform.users.service import parse_if_match

if TYPE_CHECKING:
    from playerplatform.auth.deps import Principal
    from playerplatform.config.live import LiveConfig


def etag(version: int) -> str:
    return f'"{version}"'


def config_out(row: ConfigVersion | None) -> ConfigOut:
    if row is None:
        return ConfigOut(
            version=0,
            values={},
            schemas={},
            overrides=[],
            author=None,
            reason=None,
            created_at=None,
        )
    return ConfigOut(
        version=row.version,
        values=row.values,
        schemas=row.schemas,
        overrides=[OverrideOut(**o) for o in row.overrides],
        author=row.author,
        reason=row.reason,
        created_at=row.created_at,
    )


async def get_config(uow: UnitOfWork) -> ConfigOut:
    """The current config document (version 0 and empty before the first change)."""
    return config_out(await repository.latest_version(uow))


async def current_validators(uow: UnitOfWork) -> dict[str, Any]:
    """Validators of the current schemas (for experiment variants' values)."""
    latest = await repository.latest_version(uow)
    return validation.compile_schemas(latest.schemas if latest else {})


async def change_config(
    uow: UnitOfWork,
    live: LiveConfig,
    *,
    actor: Principal,
    body: ConfigIn,
    if_match: str | None,
    client: ClientInfo,
) -> ConfigOut:
    """Replace the config document when `if_match` names the current version (412 when it is
    stale, 428 without it); values are checked against their keys' schemas (422)."""
    expected = parse_if_match(if_match)
    await repository.take_next_state_version(uow)  # serialises changes from here on
    latest = await repository.latest_version(uow)
    current = latest.version if latest else 0
    if expected != current:
        raise PreconditionFailed(f"The config changed: the current version is {current}.")
    schemas = body.schemas if body.schemas is not None else (latest.schemas if latest else {})
    overrides = (
        [o.model_dump(mode="json", exclude_none=True) for o in body.overrides]
        if body.overrides is not None
        else (latest.overrides if latest else [])
    )
    check_document(body.values, schemas, overrides)
    row = await _add_version(
        uow,
        live,
        latest,
        actor=actor,
        reason=body.reason,
        client=client,
        document=(body.values, schemas, overrides),
    )
    return config_out(row)


async def roll_back(
    uow: UnitOfWork, live: LiveConfig, *, actor: Principal, body: RollbackIn, client: ClientInfo
) -> ConfigOut:
    """A new version holding what `body.version` held."""
    await repository.take_next_state_version(uow)
    target = await repository.get_version(uow, body.version)
    if target is None:
        raise NotFound(f"No config version {body.version}.")
    latest = await repository.latest_version(uow)
    row = await _add_version(
        uow,
        live,
        latest,
        actor=actor,
        client=client,
        reason=body.reason or f"rollback to version {target.version}",
        document=(target.values, target.schemas, target.overrides),
        rolled_back_to=target.version,
    )
    return config_out(row)


def check_document(
    values: Mapping[str, Any], schemas: Mapping[str, Any], overrides: Sequence[Mapping[str, Any]]
) -> None:
    validators = validation.compile_schemas(schemas)
    documents = [("values", values)]
    documents += [(f"overrides.{i}.values", o.get("values") or {}) for i, o in enumerate(overrides)]
    validation.check_values(validators, documents)


async def _add_version(
    uow: UnitOfWork,
    live: LiveConfig,
    latest: ConfigVersion | None,
    *,
    actor: Principal,
    reason: str | None,
    client: ClientInfo,
    document: tuple[Mapping[str, Any], Mapping[str, Any], Sequence[Mapping[str, Any]]],
    rolled_back_to: int | None = None,
) -> ConfigVersion:
    values, schemas, overrides = document
    changes = diff(latest, values, schemas, overrides)
    row = ConfigVersion(
        version=(latest.version if latest else 0) + 1,
        values=dict(values),
        schemas=dict(schemas),
        overrides=[dict(o) for o in overrides],
        diff=[c.model_dump(mode="json") for c in changes],
        author=actor.actor_id,
        reason=reason,
        rolled_back_to=rolled_back_to,
        created_at=utcnow(),
    )
    await repository.add_version(uow, row)
    await audit.record(
        uow,
        action="config.rollback" if rolled_back_to else "config.update",
        resource_type="config",
        actor=actor,
        resource_id=str(row.version),
        old={"version": latest.version} if latest else None,
        new={"version": row.version, "reason": reason, "diff": row.diff},
        client=client,
    )
    uow.after_commit(live.changed)
    return row


def diff(
    latest: ConfigVersion | None,
    values: Mapping[str, Any],
    schemas: Mapping[str, Any],
    overrides: Sequence[Mapping[str, Any]],
) -> list[Change]:
    """What changed from `latest`: one entry per value key, per schema (`schemas.<key>`) and
    for the overrides as a whole (`overrides`)."""
    changes = _changes(latest.values if latest else {}, values, "")
    changes += _changes(latest.schemas if latest else {}, schemas, "schemas.")
    old_overrides = latest.overrides if latest else []
    if list(old_overrides) != [dict(o) for o in overrides]:
        changes.append(
            Change(key="overrides", op="changed", old=old_overrides, new=list(overrides))
        )
    return changes


def _changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[Change]:
    out = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            out.append(Change(key=prefix + key, op="added", new=new[key]))
        elif key not in new:
            out.append(Change(key=prefix + key, op="removed", old=old[key]))
        elif old[key] != new[key]:
            out.append(Change(key=prefix + key, op="changed", old=old[key], new=new[key]))
    return out


async def history(uow: UnitOfWork, page: PageParams) -> Page[HistoryItem]:
    """Versions, newest first, each with its diff from the one before."""
    after = decode_cursor(page.cursor, HistoryCursor)
    rows = await repository.list_versions(
        uow, before=after.v if after else None, limit=page.limit + 1
    )
    return paginate(
        list(rows),
        page.limit,
        lambda r: HistoryCursor(v=r.version),
        lambda r: HistoryItem(
            version=r.version,
            author=r.author,
            reason=r.reason,
            created_at=r.created_at,
            diff=[Change(**c) for c in r.diff],
            rolled_back_to=r.rolled_back_to,
        ),
    )
