"""inventory: assets, groups, facts and fact history

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("address", sa.String(255)),
        sa.Column("port", sa.Integer),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("groups", Json, nullable=False),
        sa.Column("tags", Json, nullable=False),
        sa.Column("vars", Json, nullable=False),
        sa.Column("credentials", Json, nullable=False),
        sa.Column("collectors", Json, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("updated_at", Utc, nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("children", Json, nullable=False),
        sa.Column("vars", Json, nullable=False),
        sa.Column("collectors", Json, nullable=False),
    )
    op.create_table(
        "facts",
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", Json),
        sa.Column("collector", sa.String(64), nullable=False),
        sa.Column("updated_at", Utc, nullable=False),
    )
    op.create_table(
        "fact_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("old_value", Json),
        sa.Column("new_value", Json),
        sa.Column("collector", sa.String(64), nullable=False),
        sa.Column("changed_at", Utc, nullable=False),
    )
    op.create_index("ix_fact_history_asset_time", "fact_history", ["asset_id", "changed_at"])


def downgrade() -> None:
    op.drop_table("fact_history")
    op.drop_table("facts")
    op.drop_table("groups")
    op.drop_table("assets")
