"""timeline notes: Slack messages captured onto an incident's timeline, keyed by channel and ts

Revision ID: 0005_timeline_notes
Revises: 0004_escalation_heartbeat
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_timeline_notes"
down_revision = "0004_escalation_heartbeat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timeline_notes",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_timeline_notes_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel", "message_ts", name=op.f("pk_timeline_notes")),
    )
    with op.batch_alter_table("timeline_notes", schema=None) as batch_op:
        batch_op.create_index("ix_timeline_notes_incident_id", ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timeline_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_notes_incident_id")
    op.drop_table("timeline_notes")
