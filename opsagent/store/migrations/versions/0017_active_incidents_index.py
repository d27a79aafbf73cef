"""The newest active incidents, in order: an index of the ids of open and acknowledged incidents only.

The queue's default page and ``GET /api/v1/incidents`` (both: active, newest first, a page) had no index
walking active incidents in id order: SQLite read every active one's (status, id) entry and sorted them,
and PostgreSQL chose between a backward walk of every incident filtered by status (which it ran with
parallel workers) and a bitmap of every active incident sorted (10 ms at 5,000 active of 100,000). This
partial index is that walk, stopped after a page.

Revision ID: 0015_active
Revises: 0014_loose
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_active"
down_revision = "0014_loose"
branch_labels = None
depends_on = None

ACTIVE = "status IN ('open', 'acknowledged')"  # opsagent.store.schema.OPEN_INCIDENT


def upgrade() -> None:
    op.create_index(
        "ix_incidents_active_id",
        "incidents",
        ["id"],
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_active_id", table_name="incidents")
