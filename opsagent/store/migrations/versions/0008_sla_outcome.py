"""The final SLA outcome in the projection: one letter per target (m met, b breached, - neither) once
every clock has stopped, written by the SLA tick — so a period report counts a settled incident
from its projection (when that is current) instead of replaying its event log.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident_service") as batch:
        batch.add_column(sa.Column("outcome", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("incident_service") as batch:
        batch.drop_column("outcome")
