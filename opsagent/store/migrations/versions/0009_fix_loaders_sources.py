"""Import sources: the owner of each group, and each import's own ``all`` vars (so a second
inventory's ``all`` vars never reach the hosts of the first).

Revision ID: 0009_fix_loaders
Revises: 0009_fix_snmp
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_fix_loaders"
down_revision = "0009_fix_snmp"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("source", sa.Text()))
    op.create_table(
        "inventory_sources",
        sa.Column("source", sa.Text(), primary_key=True),
        sa.Column("vars", Json, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inventory_sources")
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("source")
