"""related incidents and collapsed flapping replies: an incident's primary, the flapping reply's ts

Revision ID: 0003_related_incidents
Revises: 0002
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_related_incidents"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("related_to", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_incidents_related_to_incidents", "incidents", ["related_to"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_incidents_related_to", ["related_to"], unique=False)
    with op.batch_alter_table("slack_threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flap_reply_ts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_threads", schema=None) as batch_op:
        batch_op.drop_column("flap_reply_ts")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_related_to")
        batch_op.drop_constraint("fk_incidents_related_to_incidents", type_="foreignkey")
        batch_op.drop_column("related_to")
