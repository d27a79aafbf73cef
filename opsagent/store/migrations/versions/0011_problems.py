"""Problem records (问题管理) and field-service visits (现场服务); an address for organisations (the visit's site).

Revision ID: 0011_problems
Revises: 0010_kb
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011_problems"
down_revision = "0010_kb"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("address", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "problems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alertname", sa.String(255)),
        sa.Column("asset_group", sa.String(255)),
        sa.Column("category", sa.String(64)),
        sa.Column("root_cause", sa.Text, nullable=False, server_default=""),
        sa.Column("workaround_article", sa.Integer, sa.ForeignKey("kb_articles.id", ondelete="SET NULL")),
        sa.Column("fix", sa.Text, nullable=False, server_default=""),
        sa.Column("found_at", Time, nullable=False),
        sa.Column("closed_at", Time),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_problems_status", "problems", ["status"])
    op.create_index("ix_problems_found", "problems", ["found_at"])
    op.create_table(
        "problem_incidents",
        sa.Column("problem_id", sa.Integer, sa.ForeignKey("problems.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("linked_by", sa.String(255), nullable=False),
        sa.Column("linked_at", Time, nullable=False),
    )
    op.create_index("ix_problem_incidents_incident", "problem_incidents", ["incident_id"])
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("engineers", Json, nullable=False),
        sa.Column("planned_for", Time, nullable=False),
        sa.Column("site", sa.Text, nullable=False, server_default=""),
        sa.Column("organisation", sa.String(255)),
        sa.Column("contact", sa.String(255)),
        sa.Column("asset", sa.String(255)),
        sa.Column("checklist", Json, nullable=False),
        sa.Column("coverage", Json, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False, server_default=""),
        sa.Column("approved_by", sa.String(255)),
        sa.Column("approved_at", Time),
        sa.Column("approval_comment", sa.Text, nullable=False, server_default=""),
        sa.Column("software_left", Json, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_visits_incident", "visits", ["incident_id"])
    op.create_table(
        "visit_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("visit_id", sa.Integer, sa.ForeignKey("visits.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_visit_notes_visit", "visit_notes", ["visit_id", "id"])


def downgrade() -> None:
    op.drop_table("visit_notes")
    op.drop_table("visits")
    op.drop_table("problem_incidents")
    op.drop_table("problems")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("address")
