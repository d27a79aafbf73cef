"""Indexes for the console's queue (newest first, 50 a page): by status and by asset, each with the id,
so a filtered page is one index walk in id order that stops after a page — not a sort of every closed
ticket or a scan of all of them; by assignee and status, so someone's open tickets (the common filter) are
a few index entries, not a walk through every ticket they ever had (bench/bench_console.py, 100,000
tickets).

Revision ID: 0012_cbench
Revises: 0012_cluster
"""

from __future__ import annotations

from alembic import op

revision = "0012_cbench"
down_revision = "0012_cluster"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_incidents_status_id": ("status", "id"),
    "ix_incidents_asset_id": ("asset", "id"),
    "ix_incidents_assignee_status_id": ("assignee", "status", "id"),
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "incidents", list(columns))


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="incidents")
