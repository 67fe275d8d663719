"""safety: sanctions, reports and their groups, sanction appeals, feedback and its
attachments, the moderation queue; the account's restriction summary

Revision ID: 0011
Revises: 0007
Create Date: 2026-12-03 00:48:51.549198

Accounts banned before sanctions existed keep their ban (the `users` ban fields); it is
lifted by the unban route as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_queue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("subject", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_queue")),
        sa.UniqueConstraint("public_id", name=op.f("uq_safety_queue_public_id")),
        sa.UniqueConstraint("type", "ref_id", name="uq_safety_queue_type_ref_id"),
    )
    with op.batch_alter_table("safety_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_safety_queue_status_priority_created_at",
            ["status", "priority", "created_at"],
            unique=False,
        )

    op.create_table(
        "safety_report_groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("target_user_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reporters", sa.Integer(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_report_groups")),
        sa.UniqueConstraint("public_id", name=op.f("uq_safety_report_groups_public_id")),
    )
    with op.batch_alter_table("safety_report_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_report_groups_target_user_id"), ["target_user_id"], unique=False
        )
        batch_op.create_index(
            "uq_safety_report_groups_open_target",
            ["target_type", "target_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "safety_feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=4000), nullable=False),
        sa.Column("build", sa.String(length=64), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("context", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("notes", sa.String(length=4000), nullable=True),
        sa.Column("duplicate_of", sa.String(length=32), nullable=True),
        sa.Column("reply", sa.String(length=4000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_safety_feedback_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_feedback")),
        sa.UniqueConstraint("public_id", name=op.f("uq_safety_feedback_public_id")),
    )
    with op.batch_alter_table("safety_feedback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_safety_feedback_status_created_at", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_safety_feedback_user_id_created_at", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "safety_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("context", JSON, nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["safety_report_groups.id"],
            name=op.f("fk_safety_reports_group_id_safety_report_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_safety_reports_reporter_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_reports")),
        sa.UniqueConstraint("public_id", name=op.f("uq_safety_reports_public_id")),
        sa.UniqueConstraint(
            "reporter_id",
            "target_type",
            "target_id",
            "reason",
            "day",
            name="uq_safety_reports_reporter_target_reason_day",
        ),
    )
    with op.batch_alter_table("safety_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_reports_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            "ix_safety_reports_reporter_id_created_at", ["reporter_id", "created_at"], unique=False
        )

    op.create_table(
        "safety_sanctions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=True),
        sa.Column("report_ids", JSON, nullable=False),
        sa.Column("imposed_by", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_safety_sanctions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_sanctions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_safety_sanctions_public_id")),
    )
    with op.batch_alter_table("safety_sanctions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_safety_sanctions_user_id_created_at", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "safety_appeals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("sanction_id", sa.Uuid(), nullable=False),
        sa.Column("appellant_id", sa.Uuid(), nullable=False),
        sa.Column("message", sa.String(length=4000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appellant_id"],
            ["users.id"],
            name=op.f("fk_safety_appeals_appellant_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sanction_id"],
            ["safety_sanctions.id"],
            name=op.f("fk_safety_appeals_sanction_id_safety_sanctions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_appeals")),
        sa.UniqueConstraint("public_id", name=op.f("uq_safety_appeals_public_id")),
    )
    with op.batch_alter_table("safety_appeals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_safety_appeals_appellant_id"), ["appellant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_safety_appeals_sanction_id"), ["sanction_id"], unique=False
        )
        batch_op.create_index(
            "uq_safety_appeals_open_sanction",
            ["sanction_id"],
            unique=True,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "safety_feedback_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("feedback_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("scan_state", sa.String(length=16), nullable=False),
        sa.Column("scan_note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feedback_id"],
            ["safety_feedback.id"],
            name=op.f("fk_safety_feedback_attachments_feedback_id_safety_feedback"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_feedback_attachments")),
        sa.UniqueConstraint(
            "feedback_id", "filename", name="uq_safety_feedback_attachments_feedback_id_filename"
        ),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restrictions", JSON, server_default=sa.text("'{}'"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("restrictions")

    op.drop_table("safety_feedback_attachments")
    with op.batch_alter_table("safety_appeals", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_safety_appeals_open_sanction",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index(batch_op.f("ix_safety_appeals_sanction_id"))
        batch_op.drop_index(batch_op.f("ix_safety_appeals_appellant_id"))

    op.drop_table("safety_appeals")
    with op.batch_alter_table("safety_sanctions", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_sanctions_user_id_created_at")

    op.drop_table("safety_sanctions")
    with op.batch_alter_table("safety_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_reports_reporter_id_created_at")
        batch_op.drop_index(batch_op.f("ix_safety_reports_group_id"))

    op.drop_table("safety_reports")
    with op.batch_alter_table("safety_feedback", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_feedback_user_id_created_at")
        batch_op.drop_index("ix_safety_feedback_status_created_at")

    op.drop_table("safety_feedback")
    with op.batch_alter_table("safety_report_groups", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_safety_report_groups_open_target",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index(batch_op.f("ix_safety_report_groups_target_user_id"))

    op.drop_table("safety_report_groups")
    with op.batch_alter_table("safety_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_queue_status_priority_created_at")

    op.drop_table("safety_queue")
