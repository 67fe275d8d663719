"""messaging: inbox, broadcasts, preferences, push tokens, realtime events; season rewards

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-03 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", JSON, nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("broadcast_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("read_at", TIME, nullable=True),
        sa.Column("claimed_at", TIME, nullable=True),
        sa.Column("deleted_at", TIME, nullable=True),
        _user_fk("inbox_messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_inbox_messages_message_id")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_inbox_messages_dedupe_key")),
    )
    with op.batch_alter_table("inbox_messages") as batch:
        batch.create_index("ix_inbox_messages_user_created", ["user_id", "created_at"])
        batch.create_index("ix_inbox_messages_broadcast", ["broadcast_id", "user_id"])

    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("broadcast_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", JSON, nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("segment", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("cancelled_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("broadcast_id", name=op.f("uq_broadcasts_broadcast_id")),
    )
    with op.batch_alter_table("broadcasts") as batch:
        batch.create_index(batch.f("ix_broadcasts_status"), ["status"])
        batch.create_index(batch.f("ix_broadcasts_send_at"), ["send_at"])

    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _user_fk("notification_preferences"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_preferences")),
    )

    op.create_table(
        "push_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=8), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("app_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        _user_fk("push_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_tokens")),
        sa.UniqueConstraint("token_id", name=op.f("uq_push_tokens_token_id")),
        sa.UniqueConstraint("platform", "token", name=op.f("uq_push_tokens_platform_token")),
    )
    with op.batch_alter_table("push_tokens") as batch:
        batch.create_index(batch.f("ix_push_tokens_user_id"), ["user_id"])

    op.create_table(
        "realtime_events",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        _user_fk("realtime_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_realtime_events")),
    )
    with op.batch_alter_table("realtime_events") as batch:
        batch.create_index("ix_realtime_events_user_id", ["user_id", "id"])
        batch.create_index(batch.f("ix_realtime_events_created_at"), ["created_at"])

    with op.batch_alter_table("seasons") as batch:
        batch.add_column(sa.Column("reward_tiers", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seasons") as batch:
        batch.drop_column("reward_tiers")
    op.drop_table("realtime_events")
    op.drop_table("push_tokens")
    op.drop_table("notification_preferences")
    op.drop_table("broadcasts")
    op.drop_table("inbox_messages")
