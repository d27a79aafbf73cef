"""desk retention and expiry warnings: when a ticket's personal data was purged (``ticket_details.purged_at``),
and the expiry warnings already sent (one per contract / warranty period and threshold).

Revision ID: 0012_fix_desk2
Revises: 0011_email
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_fix_desk2"
down_revision = "0011_email"
branch_labels = None
depends_on = None

Utc = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ticket_details") as batch:
        batch.add_column(sa.Column("purged_at", Utc))
    op.create_table(
        "desk_expiry_notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("until", sa.Date, nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("sent_at", Utc, nullable=False),
        sa.UniqueConstraint("kind", "subject", "until", "threshold", name="uq_desk_expiry_notices"),
    )


def downgrade() -> None:
    op.drop_table("desk_expiry_notices")
    with op.batch_alter_table("ticket_details") as batch:
        batch.drop_column("purged_at")
