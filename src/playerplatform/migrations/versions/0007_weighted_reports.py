"""ugc: weighted reports

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000

Each report carries the weight its reporter had when filing it. Reports filed before weights
existed count fully (1.0), as they did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ugc_reports") as batch:
        batch.add_column(
            sa.Column("weight", sa.Float(), nullable=False, server_default=sa.text("1.0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("ugc_reports") as batch:
        batch.drop_column("weight")
