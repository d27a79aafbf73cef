"""A lease on runbook runs: renewed while the run goes on, so a run whose process was killed is found
interrupted by its expired lease, whatever host or PID it had (containers, restarted pods).

Revision ID: 0009_fix_runbooks
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_fix_runbooks"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runbook_runs") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("runbook_runs") as batch:
        batch.drop_column("lease_until")
