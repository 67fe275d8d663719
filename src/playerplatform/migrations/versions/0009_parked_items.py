"""jobs: parked items (what a batch job set aside instead of failing the whole batch)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parked_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_items")),
        sa.UniqueConstraint("source", "key", name=op.f("uq_parked_items_source_key")),
    )
    with op.batch_alter_table("parked_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_parked_items_open", ["source", "scope", "resolved_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("parked_items", schema=None) as batch_op:
        batch_op.drop_index("ix_parked_items_open")
    op.drop_table("parked_items")
