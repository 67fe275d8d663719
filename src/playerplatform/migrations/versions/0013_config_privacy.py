"""config and privacy: live configuration, experiments' exposures, export and erasure requests

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-03 01:00:00.000000

The live configuration: one state row whose version every change takes, the versions of the
config document, feature flags, experiments and the exposures recorded once per player and
experiment. Privacy: players' export and erasure requests.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIME = sa.DateTime(timezone=True)

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "config_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_state")),
    )
    op.execute(
        "INSERT INTO config_state (id, version, updated_at) VALUES (1, 0, CURRENT_TIMESTAMP)"
    )
    op.create_table(
        "config_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.Column("schemas", JSON, nullable=False),
        sa.Column("overrides", JSON, nullable=False),
        sa.Column("diff", JSON, nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("rolled_back_to", sa.Integer(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_config_versions")),
    )
    op.create_index(
        op.f("ix_config_versions_created_at"), "config_versions", ["created_at"], unique=False
    )
    op.create_table(
        "feature_flags",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("rollout_percent", sa.Float(), nullable=True),
        sa.Column("segment", JSON, nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feature_flags")),
    )
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("variants", JSON, nullable=False),
        sa.Column("segment", JSON, nullable=True),
        sa.Column("starts_at", TIME, nullable=False),
        sa.Column("ends_at", TIME, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_experiments")),
    )
    op.create_table(
        "experiment_exposures",
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("exposed_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_experiment_exposures_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment", "user_id", name=op.f("pk_experiment_exposures")),
    )
    op.create_index(
        op.f("ix_experiment_exposures_user_id"), "experiment_exposures", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_experiment_exposures_exposed_at"),
        "experiment_exposures",
        ["exposed_at"],
        unique=False,
    )
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("due_at", TIME, nullable=True),
        sa.Column("completed_at", TIME, nullable=True),
        sa.Column("object_key", sa.String(length=256), nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_privacy_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_privacy_requests_public_id")),
    )
    op.create_index(
        "ix_privacy_requests_user_id_created_at",
        "privacy_requests",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_privacy_requests_status"), "privacy_requests", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_table("privacy_requests")
    op.drop_table("experiment_exposures")
    op.drop_table("experiments")
    op.drop_table("feature_flags")
    op.drop_table("config_versions")
    op.drop_table("config_state")
