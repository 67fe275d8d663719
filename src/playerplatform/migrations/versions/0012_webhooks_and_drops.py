"""webhooks and drops: events, campaigns, drops, EventSub subscriptions

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-03 00:47:15.809445

Every webhook message once per (provider, message id); Drops campaigns; one row per Twitch
entitlement (unique: the grant happens once); the EventSub subscriptions we created.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drop_campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("twitch_game_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewards", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drop_campaigns")),
        sa.UniqueConstraint("campaign_id", name=op.f("uq_drop_campaigns_campaign_id")),
    )
    with op.batch_alter_table("drop_campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_drop_campaigns_status_created_at", ["status", "created_at"], unique=False
        )

    op.create_table(
        "twitch_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("condition", JSON, nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_twitch_subscriptions")),
        sa.UniqueConstraint(
            "subscription_id", name=op.f("uq_twitch_subscriptions_subscription_id")
        ),
    )
    with op.batch_alter_table("twitch_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_twitch_subscriptions_status"), ["status"], unique=False
        )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("subscription_type", sa.String(length=128), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_webhook_events_event_id")),
        sa.UniqueConstraint(
            "provider", "message_id", name=op.f("uq_webhook_events_provider_message_id")
        ),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_events_provider_status_received_at",
            ["provider", "status", "received_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_webhook_events_status_received_at", ["status", "received_at"], unique=False
        )

    op.create_table(
        "drops",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("drop_id", sa.String(length=32), nullable=False),
        sa.Column("entitlement_id", sa.String(length=128), nullable=False),
        sa.Column("twitch_user_id", sa.String(length=64), nullable=False),
        sa.Column("benefit_id", sa.String(length=128), nullable=False),
        sa.Column("game_id", sa.String(length=64), nullable=True),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grants", JSON, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("fulfil_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_drops_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drops")),
        sa.UniqueConstraint("drop_id", name=op.f("uq_drops_drop_id")),
        sa.UniqueConstraint("entitlement_id", name=op.f("uq_drops_entitlement_id")),
    )
    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.create_index(
            "ix_drops_campaign_id_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index("ix_drops_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "ix_drops_twitch_user_id_status", ["twitch_user_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_drops_user_id_created_at", ["user_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("drops", schema=None) as batch_op:
        batch_op.drop_index("ix_drops_user_id_created_at")
        batch_op.drop_index("ix_drops_twitch_user_id_status")
        batch_op.drop_index("ix_drops_status_created_at")
        batch_op.drop_index("ix_drops_campaign_id_status")

    op.drop_table("drops")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_status_received_at")
        batch_op.drop_index("ix_webhook_events_provider_status_received_at")

    op.drop_table("webhook_events")
    with op.batch_alter_table("twitch_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_twitch_subscriptions_status"))

    op.drop_table("twitch_subscriptions")
    with op.batch_alter_table("drop_campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_drop_campaigns_status_created_at")

    op.drop_table("drop_campaigns")
