"""ugc: items, tags, scans, ratings, downloads, reports, appeals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 12:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN = "status = 'open'"

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ugc",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("upload_key", sa.String(length=512), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=True),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("scan_state", sa.String(length=16), nullable=False),
        sa.Column("scan_round", sa.Integer(), nullable=False),
        sa.Column("status_reason", sa.String(length=32), nullable=True),
        sa.Column("status_note", sa.String(length=1000), nullable=True),
        sa.Column("downloads_count", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_average", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name=op.f("fk_ugc_creator_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ugc")),
        sa.UniqueConstraint("public_id", name=op.f("uq_ugc_public_id")),
    )
    with op.batch_alter_table("ugc", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ugc_browse_newest", ["status", "visibility", "published_at"], unique=False
        )
        batch_op.create_index(
            "ix_ugc_creator_id_created_at", ["creator_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ugc_downloads_count"), ["downloads_count"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ugc_rating_average"), ["rating_average"], unique=False)
        batch_op.create_index("ix_ugc_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ugc_type"), ["type"], unique=False)

    op.create_table(
        "appeals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("ugc_id", sa.Uuid(), nullable=False),
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
            name=op.f("fk_appeals_appellant_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ugc_id"], ["ugc.id"], name=op.f("fk_appeals_ugc_id_ugc"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("public_id", name=op.f("uq_appeals_public_id")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_appellant_id"), ["appellant_id"], unique=False)
        batch_op.create_index(
            "ix_appeals_status_created_at", ["status", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_appeals_open_per_ugc",
            ["ugc_id"],
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )

    op.create_table(
        "ugc_downloads",
        sa.Column("ugc_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ugc_id"], ["ugc.id"], name=op.f("fk_ugc_downloads_ugc_id_ugc"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ugc_downloads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ugc_id", "user_id", "day", name=op.f("pk_ugc_downloads")),
    )
    with op.batch_alter_table("ugc_downloads", schema=None) as batch_op:
        batch_op.create_index("ix_ugc_downloads_day_ugc_id", ["day", "ugc_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ugc_downloads_user_id"), ["user_id"], unique=False)

    op.create_table(
        "ugc_ratings",
        sa.Column("ugc_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ugc_id"], ["ugc.id"], name=op.f("fk_ugc_ratings_ugc_id_ugc"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ugc_ratings_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ugc_id", "user_id", name=op.f("pk_ugc_ratings")),
    )
    with op.batch_alter_table("ugc_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ugc_ratings_user_id"), ["user_id"], unique=False)

    op.create_table(
        "ugc_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("ugc_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_ugc_reports_reporter_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ugc_id"], ["ugc.id"], name=op.f("fk_ugc_reports_ugc_id_ugc"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ugc_reports")),
        sa.UniqueConstraint("public_id", name=op.f("uq_ugc_reports_public_id")),
    )
    with op.batch_alter_table("ugc_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ugc_reports_reporter_id"), ["reporter_id"], unique=False
        )
        batch_op.create_index(
            "ix_ugc_reports_status_created_at", ["status", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ugc_reports_ugc_id"), ["ugc_id"], unique=False)
        batch_op.create_index(
            "uq_ugc_reports_open_per_reporter",
            ["ugc_id", "reporter_id"],
            unique=True,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )

    op.create_table(
        "ugc_scans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ugc_id", sa.Uuid(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("scanner", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=255), nullable=True),
        sa.Column("report_key", sa.String(length=512), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ugc_id"], ["ugc.id"], name=op.f("fk_ugc_scans_ugc_id_ugc"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ugc_scans")),
    )
    with op.batch_alter_table("ugc_scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ugc_scans_ugc_id"), ["ugc_id"], unique=False)

    op.create_table(
        "ugc_tags",
        sa.Column("ugc_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["ugc_id"], ["ugc.id"], name=op.f("fk_ugc_tags_ugc_id_ugc"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ugc_id", "tag", name=op.f("pk_ugc_tags")),
    )
    with op.batch_alter_table("ugc_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ugc_tags_tag"), ["tag"], unique=False)


def downgrade() -> None:
    for table in (
        "ugc_tags",
        "ugc_scans",
        "ugc_reports",
        "ugc_ratings",
        "ugc_downloads",
        "appeals",
        "ugc",
    ):
        op.drop_table(table)
