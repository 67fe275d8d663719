"""ugc ratings keep the value they replaced

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:00:00.000000

A rating's upsert records the value it replaced, so the one statement that sets a rating
also moves the item's sum and count by the true difference without locking the item first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ugc_ratings") as batch:
        batch.add_column(sa.Column("previous_value", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ugc_ratings") as batch:
        batch.drop_column("previous_value")
