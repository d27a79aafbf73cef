"""Knowledge search on PostgreSQL ranks a bounded candidate set: GIN indexes per kind (partial, so a kind's
matches are read without the other's) over the whole document and over the title alone.

The ranked search takes, per kind, the first N documents whose title has the words and the first N that
have them anywhere, and ranks only those (see ``opsagent.knowledge.search._pg_candidates``): ranking every
match of a broad word read and scored a fifth of the table. SQLite (FTS5) is unchanged.

Revision ID: 0013_kbpg
Revises: 0012_fix_desk2
"""

from __future__ import annotations

from alembic import op

revision = "0013_kbpg"
down_revision = "0012_fix_desk2"
branch_labels = None
depends_on = None

KINDS = ("article", "incident")
TITLE = "to_tsvector('simple', seg_title)"  # the expression search.py matches titles with


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for kind in KINDS:
        op.execute(f"CREATE INDEX ix_kb_search_tsv_{kind} ON kb_search USING gin (tsv) WHERE kind = '{kind}'")
        op.execute(f"CREATE INDEX ix_kb_search_title_{kind} ON kb_search USING gin ({TITLE}) WHERE kind = '{kind}'")
    op.execute("DROP INDEX IF EXISTS ix_kb_search_tsv")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_kb_search_tsv ON kb_search USING gin (tsv)")
    for kind in KINDS:
        op.execute(f"DROP INDEX IF EXISTS ix_kb_search_title_{kind}")
        op.execute(f"DROP INDEX IF EXISTS ix_kb_search_tsv_{kind}")
