"""remote silences: where a silence lives (sevbot, Alertmanager, Grafana), its id there, its incident

Revision ID: 0006_remote_silences
Revises: 0005_timeline_notes
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_remote_silences"
down_revision = "0005_timeline_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target", sa.String(length=16), server_default="sevbot", nullable=False)
        )
        batch_op.add_column(sa.Column("remote_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_silences_incident_id_incidents"),
            "incidents",
            ["incident_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_silences_remote_id", ["remote_id"], unique=False)


def downgrade() -> None:
    # Silences at the source stay there (Alertmanager keeps them until they end); sevbot forgets them.
    op.execute("DELETE FROM silences WHERE target <> 'sevbot'")
    with op.batch_alter_table("silences", schema=None) as batch_op:
        batch_op.drop_index("ix_silences_remote_id")
        batch_op.drop_constraint(batch_op.f("fk_silences_incident_id_incidents"), type_="foreignkey")
        batch_op.drop_column("incident_id")
        batch_op.drop_column("remote_id")
        batch_op.drop_column("target")
