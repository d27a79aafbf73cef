"""One vote per user and article: ``kb_votes`` records who voted what, unique per (article, voter); a second
vote by the same user replaces the first (as Zammad and GLPI do), so one user can no longer vote an article
up many times. ``kb_articles.helpful``/``not_helpful`` stay the counters that reports read; votes cast
before this revision were not recorded by voter and stay in them as they are.

Revision ID: 0014_loose
Revises: 0013_kbpg
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_loose"
down_revision = "0013_kbpg"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_votes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("article_id", sa.Integer, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("voter", sa.String(255), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("article_id", "voter", name="uq_kb_votes_article_voter"),
    )


def downgrade() -> None:
    op.drop_table("kb_votes")
