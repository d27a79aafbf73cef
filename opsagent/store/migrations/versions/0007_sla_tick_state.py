"""SLA tick state in the projection: the last event counted, the next moment the clocks can change on
their own, and the policy they were computed under — so a restarted `serve` recomputes only the
incidents that changed while it was down, not every open incident.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident_service") as batch:
        batch.add_column(sa.Column("seen_event_id", sa.Integer))
        batch.add_column(sa.Column("next_check_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("policy_digest", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("incident_service") as batch:
        batch.drop_column("policy_digest")
        batch.drop_column("next_check_at")
        batch.drop_column("seen_event_id")
