"""runbook runs: runs, per-target results, step results (the audit trail) and approvals

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runbook_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("runbook", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.Integer),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("selector", sa.Text, nullable=False),
        sa.Column("check_mode", sa.Boolean, nullable=False),
        sa.Column("retry_of", sa.Integer),
        sa.Column("pid", sa.Integer),
        sa.Column("hostname", sa.String(255)),
        sa.Column("started_at", Utc, nullable=False),
        sa.Column("finished_at", Utc),
        sa.Column("summary", Json, nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_runbook_runs_runbook", "runbook_runs", ["runbook", "id"])
    op.create_index("ix_runbook_runs_status", "runbook_runs", ["status"])
    op.create_table(
        "runbook_targets",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runbook_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("asset", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("checks", Json, nullable=False),
        sa.Column("duration", sa.Float),
        sa.Column("finished_at", Utc),
    )
    op.create_table(
        "runbook_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runbook_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("asset", sa.String(255), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command", sa.Text),
        sa.Column("stdout", sa.Text, nullable=False, server_default=""),
        sa.Column("stderr", sa.Text, nullable=False, server_default=""),
        sa.Column("rc", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("checks", Json, nullable=False),
        sa.Column("started_at", Utc, nullable=False),
    )
    op.create_index("ix_runbook_steps_run", "runbook_steps", ["run_id", "asset", "seq"])
    op.create_table(
        "runbook_approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runbook_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("asset", sa.String(255), nullable=False, server_default=""),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("approvers", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", Utc, nullable=False),
        sa.Column("decided_at", Utc),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("channel", sa.String(16), nullable=False),
    )
    op.create_index("ix_runbook_approvals_status", "runbook_approvals", ["status"])


def downgrade() -> None:
    op.drop_table("runbook_approvals")
    op.drop_table("runbook_steps")
    op.drop_table("runbook_targets")
    op.drop_table("runbook_runs")
