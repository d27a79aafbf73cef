"""service levels: per-incident service record (sign-off, follow-up, satisfaction, archive, SLA cache)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # One row per incident, beside (not inside) the incidents table: the event log stays the truth;
    # this row is the queryable projection reports and follow-up lists need.
    op.create_table(
        "incident_service",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("impact", sa.String(16)),
        sa.Column("urgency", sa.String(16)),
        sa.Column("symptom", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("signed_off_by", sa.String(255)),
        sa.Column("signed_off_at", sa.DateTime(timezone=True)),
        sa.Column("followup_due_at", sa.DateTime(timezone=True)),
        sa.Column("followed_up_at", sa.DateTime(timezone=True)),
        sa.Column("followed_up_by", sa.String(255)),
        sa.Column("satisfaction", sa.Integer),
        sa.Column("feedback", sa.Text),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
        sa.Column("sla", Json, nullable=False),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_incident_service_followup", "incident_service", ["followed_up_at", "followup_due_at"])


def downgrade() -> None:
    op.drop_table("incident_service")
