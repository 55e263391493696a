"""outbox leases and parking: a token per claim, the reason a row is parked, an index for retention

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("parked_reason", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_outbox_status_done_at", ["status", "done_at"], unique=False)


def downgrade() -> None:
    # Parked rows were pending before parking existed: they go back to the queue.
    op.execute("UPDATE outbox SET status = 'pending' WHERE status = 'parked'")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_done_at")
        batch_op.drop_column("parked_reason")
        batch_op.drop_column("lease_token")
