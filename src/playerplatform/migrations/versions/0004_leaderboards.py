"""leaderboards: seasons and entries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seasons",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("season_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("sort", sa.String(length=4), nullable=False),
        sa.Column("operator", sa.String(length=16), nullable=False),
        sa.Column("reset_rule", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recurrence", sa.String(length=64), nullable=True),
        sa.Column("series", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("authoritative", sa.Boolean(), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seasons")),
        sa.UniqueConstraint("season_id", name=op.f("uq_seasons_season_id")),
    )
    with op.batch_alter_table("seasons", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seasons_end_date"), ["end_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_seasons_series"), ["series"], unique=False)
        batch_op.create_index(batch_op.f("ix_seasons_state"), ["state"], unique=False)

    op.create_table(
        "leaderboard_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("season_pk", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("achieved_us", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_reason", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["season_pk"],
            ["seasons.id"],
            name=op.f("fk_leaderboard_entries_season_pk_seasons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_leaderboard_entries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_entries")),
        sa.UniqueConstraint(
            "season_pk", "user_id", name=op.f("uq_leaderboard_entries_season_pk_user_id")
        ),
    )
    with op.batch_alter_table("leaderboard_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leaderboard_entries_season_pk_rank", ["season_pk", "rank"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_leaderboard_entries_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("leaderboard_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leaderboard_entries_user_id"))
        batch_op.drop_index("ix_leaderboard_entries_season_pk_rank")
    op.drop_table("leaderboard_entries")
    with op.batch_alter_table("seasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seasons_state"))
        batch_op.drop_index(batch_op.f("ix_seasons_series"))
        batch_op.drop_index(batch_op.f("ix_seasons_end_date"))
    op.drop_table("seasons")
