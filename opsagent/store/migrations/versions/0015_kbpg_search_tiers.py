"""Knowledge search on PostgreSQL ranks a bounded candidate set: GIN indexes per kind (partial, so a kind's
matches are read without the other's) over the whole document and over the title alone.

The ranked search takes, per kind, the first N documents whose title has the words and the first N that
have them anywhere, and ranks only those (see ``opsagent.knowledge.search._pg_candidates``): ranking every
match of a broad word read and scored a fifth of the table. SQLite (FTS5) is unchanged.

``gin_pending_list_limit = 256`` (kB, default 4 MB): new entries wait in the index's unsorted pending list
until it is merged (by that limit or VACUUM), and every search reads that list whole — after indexing
100,000 documents a title lookup took 30 ms instead of 1. A small list keeps searches fast and bulk
indexing cheap (``fastupdate = off`` did the first but made indexing 100,000 documents take 70 s).

Revision ID: 0013_kbpg
Revises: 0012_cbench
"""

from __future__ import annotations

from alembic import op

revision = "0013_kbpg"
down_revision = "0012_cbench"
branch_labels = None
depends_on = None

KINDS = ("article", "incident")
OPTIONS = "WITH (gin_pending_list_limit = 256)"  # kB: see above
TITLE = "to_tsvector('simple', seg_title)"  # the expression search.py matches titles with


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for kind in KINDS:
        for name, column in (("tsv", "tsv"), ("title", TITLE)):
            op.execute(
                f"CREATE INDEX ix_kb_search_{name}_{kind} ON kb_search "
                f"USING gin ({column}) {OPTIONS} WHERE kind = '{kind}'"
            )
    op.execute("DROP INDEX IF EXISTS ix_kb_search_tsv")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_kb_search_tsv ON kb_search USING gin (tsv)")
    for kind in KINDS:
        op.execute(f"DROP INDEX IF EXISTS ix_kb_search_title_{kind}")
        op.execute(f"DROP INDEX IF EXISTS ix_kb_search_tsv_{kind}")
