"""auth: device ids stored hashed; TOTP second factors

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 01:00:00.000000

A device id is a guest's only credential. Until now it was stored, shown to staff and written
into audit rows as it is. This converts the existing rows in place: identities and the link
history keep the id's SHA-256 (the login looks that up), and audit rows keep only the
fingerprint staff see (the first characters of the hash). A one-way conversion: the downgrade
leaves the hashes (no device id can be recovered from them) and drops the new table.
"""

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MASK_LENGTH = 8  # auth.providers.MASK_LENGTH, as of this revision
BATCH = 1000
JSON = sa.JSON().with_variant(JSONB(), "postgresql")

identities = sa.table(
    "identities",
    sa.column("id", sa.Uuid()),
    sa.column("provider", sa.String()),
    sa.column("provider_id", sa.String()),
)
account_links = sa.table(
    "account_links",
    sa.column("id", sa.Uuid()),
    sa.column("provider", sa.String()),
    sa.column("provider_id", sa.String()),
)
audit_logs = sa.table(
    "audit_logs",
    sa.column("id", sa.BigInteger()),
    sa.column("action", sa.String()),
    sa.column("resource_id", sa.String()),
    sa.column("old_values", JSON),
    sa.column("new_values", JSON),
)


def _hash(device_id: str) -> str:
    return hashlib.sha256(device_id.encode()).hexdigest()


def _mask(device_id: str) -> str:
    return _hash(device_id)[:MASK_LENGTH] + "…"


def upgrade() -> None:
    op.create_table(
        "second_factors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_second_factors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_second_factors")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in (identities, account_links):
            hashed = sa.func.encode(
                sa.func.sha256(sa.func.convert_to(table.c.provider_id, "UTF8")), "hex"
            )
            bind.execute(
                sa.update(table).where(table.c.provider == "device").values(provider_id=hashed)
            )
    else:
        for table in (identities, account_links):
            _hash_rows(bind, table)
    _scrub_audit(bind)


def _hash_rows(bind: Any, table: Any) -> None:
    rows = bind.execute(
        sa.select(table.c.id, table.c.provider_id).where(table.c.provider == "device")
    ).all()
    for start in range(0, len(rows), BATCH):
        for row_id, device_id in rows[start : start + BATCH]:
            bind.execute(
                sa.update(table).where(table.c.id == row_id).values(provider_id=_hash(device_id))
            )


def _scrub_audit(bind: Any) -> None:
    """Links, unlinks and merges named device ids in the audit log: keep fingerprints."""
    rows = bind.execute(
        sa.select(
            audit_logs.c.id,
            audit_logs.c.action,
            audit_logs.c.resource_id,
            audit_logs.c.old_values,
            audit_logs.c.new_values,
        ).where(audit_logs.c.action.in_(("auth.link", "auth.unlink", "auth.merge")))
    ).all()
    for row_id, action, resource_id, old, new in rows:
        values: dict[str, Any] = {}
        if action in ("auth.link", "auth.unlink"):
            if not (resource_id or "").startswith("device:"):
                continue
            device_id = resource_id.removeprefix("device:")
            values["resource_id"] = f"device:{_mask(device_id)}"
            for name, doc in (("old_values", old), ("new_values", new)):
                if doc and doc.get("provider_id") == device_id:
                    values[name] = {**doc, "provider_id": _mask(device_id)}
        elif new and isinstance(new.get("identities"), list):
            named = [str(i) for i in new["identities"]]
            masked = [
                f"device:{_mask(i.removeprefix('device:'))}" if i.startswith("device:") else i
                for i in named
            ]
            if masked == named:
                continue
            values["new_values"] = {**new, "identities": masked}
        if values:
            bind.execute(sa.update(audit_logs).where(audit_logs.c.id == row_id).values(**values))


def downgrade() -> None:
    op.drop_table("second_factors")
