"""service desk (issue 21): tickets raised by people are rows of ``incidents`` with a ``type``
(incident | service_request), the responsible ``team`` and the service ``contract`` whose targets
their SLA clocks use; their intake details beside them (``ticket_details``); requester records
(用户档案): organisations, requesters and the assets each uses or owns.

Revision ID: 0009_desk
Revises: 0009_fix_loaders
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_desk"
down_revision = "0009_fix_loaders"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("type", sa.String(24), nullable=False, server_default="incident"))
        batch.add_column(sa.Column("team", sa.String(255)))
        batch.add_column(sa.Column("contract", sa.String(128)))
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),  # internal (a department) | external (a customer)
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", Utc, nullable=False),
    )
    op.create_table(
        "requesters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("organisations.id", ondelete="SET NULL")),
        sa.Column("department", sa.String(255), nullable=False, server_default=""),
        sa.Column("phone", sa.String(64)),
        sa.Column("email", sa.String(320)),
        sa.Column("type", sa.String(16), nullable=False),  # internal | external
        sa.Column("language", sa.String(8), nullable=False, server_default="zh"),
        sa.Column("preferred_channel", sa.String(16), nullable=False, server_default="phone"),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", Utc, nullable=False),
        sa.Column("updated_at", Utc, nullable=False),
    )
    op.create_index("ix_requesters_email", "requesters", ["email"], unique=True)
    op.create_index("ix_requesters_phone", "requesters", ["phone"])
    op.create_index("ix_requesters_name", "requesters", ["name"])
    op.create_table(
        "requester_assets",
        sa.Column("requester_id", sa.Integer, sa.ForeignKey("requesters.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("asset", sa.String(255), primary_key=True),
        sa.Column("relation", sa.String(8), primary_key=True),  # uses | owns
    )
    op.create_table(
        "ticket_details",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("requester_id", sa.Integer, sa.ForeignKey("requesters.id", ondelete="SET NULL")),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subcategory", sa.String(64), nullable=False, server_default=""),
        sa.Column("request", sa.Text, nullable=False, server_default=""),
        sa.Column("promises", sa.Text, nullable=False, server_default=""),
        sa.Column("assets", Json, nullable=False),
        sa.Column("flags", Json, nullable=False),
    )
    op.create_index("ix_ticket_details_requester", "ticket_details", ["requester_id"])


def downgrade() -> None:
    op.drop_table("ticket_details")
    op.drop_table("requester_assets")
    op.drop_table("requesters")
    op.drop_table("organisations")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("contract")
        batch.drop_column("team")
        batch.drop_column("type")
