"""escalation and heartbeat: reminders and pager state on incidents, the heartbeats table

Revision ID: 0004_escalation_heartbeat
Revises: 0003_related_incidents
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0004_escalation_heartbeat"
down_revision = "0003_related_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renotify_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("renotified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pager_state", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_incidents_pager_state", ["pager_state"], unique=False)
    op.create_table(
        "heartbeats",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("alertname", sa.String(length=255), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("silent_incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["silent_incident_id"],
            ["incidents.id"],
            name="fk_heartbeats_silent_incident_id_incidents",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("source", "alertname", name="pk_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_pager_state")
        batch_op.drop_column("pager_state")
        batch_op.drop_column("renotified_at")
        batch_op.drop_column("renotify_count")
