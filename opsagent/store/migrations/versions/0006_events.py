"""events (SNMP traps/informs) and device configuration versions (backups over netmiko)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("asset", sa.String(255)),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("oid", sa.String(255), nullable=False),
        sa.Column("detail", Json, nullable=False),
    )
    op.create_index("ix_events_received", "events", ["received_at"])
    op.create_index("ix_events_asset_received", "events", ["asset", "received_at"])
    op.create_table(
        "config_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset", sa.String(255), nullable=False),
        sa.Column("rev", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("asset", "rev", name="uq_config_versions_asset_rev"),
    )


def downgrade() -> None:
    op.drop_table("config_versions")
    op.drop_index("ix_events_asset_received", "events")
    op.drop_index("ix_events_received", "events")
    op.drop_table("events")
