"""cluster: agents sharing one store — members with their leases, named leases (the leader), one open
incident per fingerprint (a unique partial index), shared notification group state (claims), the
agent that saved each alert state, and each agent's latest samples for cluster-wide rules.

Revision ID: 0012_cluster
Revises: 0012_fix_desk2
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_cluster"
down_revision = "0012_fix_desk2"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
OPEN = "status IN ('open', 'acknowledged')"


def upgrade() -> None:
    op.create_table(
        "cluster_members",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("listen", sa.String(255), nullable=False, server_default=""),
        sa.Column("labels", Json, nullable=False),
        sa.Column("groups", Json, nullable=False),
        sa.Column("joined_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("targets", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "cluster_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
    )
    op.create_table(
        "notification_groups",
        sa.Column("group_key", sa.String(1024), primary_key=True),
        sa.Column("last_sent", sa.Float),
        sa.Column("sent_firing", Json, nullable=False),
        sa.Column("agent", sa.String(255), nullable=False, server_default=""),
    )
    op.create_table(
        "cluster_series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("agent", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Index("ix_cluster_series_agent", "agent"),
    )
    with op.batch_alter_table("alert_states") as batch:
        batch.add_column(sa.Column("agent", sa.String(255)))
    _close_duplicates()
    op.create_index(
        "ux_incidents_open_fingerprint",
        "incidents",
        ["fingerprint"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def _close_duplicates() -> None:
    """Two open incidents of one fingerprint (two agents before this release) would fail the index: the
    newer ones are resolved, the oldest stays open."""
    op.execute(
        sa.text(
            f"UPDATE incidents SET status = 'resolved' WHERE {OPEN} AND id NOT IN "
            f"(SELECT MIN(id) FROM incidents WHERE {OPEN} GROUP BY fingerprint)"
        )
    )


def downgrade() -> None:
    op.drop_index("ux_incidents_open_fingerprint", "incidents")
    with op.batch_alter_table("alert_states") as batch:
        batch.drop_column("agent")
    op.drop_table("cluster_series")
    op.drop_table("notification_groups")
    op.drop_table("cluster_leases")
    op.drop_table("cluster_members")
