"""Knowledge base: articles (translations, links, versions), suggestions to incidents, and the search
documents with their full-text index — FTS5 (unicode61, over rjieba-segmented text) on SQLite, a stored
``to_tsvector('simple', …)`` column with GIN on PostgreSQL.

Revision ID: 0010_kb
Revises: 0010_users
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_kb"
down_revision = "0010_users"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Time = sa.DateTime(timezone=True)

_FTS_COLUMNS = "seg_title, seg_body, kind, status, lang, visibility"  # the last four: filters inside the index
_NEW = ", ".join(f"new.{c}" for c in _FTS_COLUMNS.split(", "))
_OLD = ", ".join(f"old.{c}" for c in _FTS_COLUMNS.split(", "))
_SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE kb_fts USING fts5({_FTS_COLUMNS}, content='kb_search', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER kb_search_ai AFTER INSERT ON kb_search BEGIN "
    f"INSERT INTO kb_fts(rowid, {_FTS_COLUMNS}) VALUES (new.id, {_NEW}); END",
    f"CREATE TRIGGER kb_search_ad AFTER DELETE ON kb_search BEGIN "
    f"INSERT INTO kb_fts(kb_fts, rowid, {_FTS_COLUMNS}) VALUES ('delete', old.id, {_OLD}); END",
    f"CREATE TRIGGER kb_search_au AFTER UPDATE ON kb_search BEGIN "
    f"INSERT INTO kb_fts(kb_fts, rowid, {_FTS_COLUMNS}) VALUES ('delete', old.id, {_OLD}); "
    f"INSERT INTO kb_fts(rowid, {_FTS_COLUMNS}) VALUES (new.id, {_NEW}); END",
]
_PG_FTS = [
    "ALTER TABLE kb_search ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
    "(setweight(to_tsvector('simple', seg_title), 'A') || setweight(to_tsvector('simple', seg_body), 'B')) STORED",
    "CREATE INDEX ix_kb_search_tsv ON kb_search USING gin (tsv)",
]


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("category", sa.String(255), nullable=False, server_default=""),
        sa.Column("tags", Json, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source_incident", sa.Integer),
        sa.Column("views", sa.Integer, nullable=False, server_default="0"),
        sa.Column("helpful", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_helpful", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_kb_articles_status", "kb_articles", ["status"])
    op.create_table(
        "kb_translations",
        sa.Column("article_id", sa.Integer, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("lang", sa.String(8), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_table(
        "kb_links",
        sa.Column("article_id", sa.Integer, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
    )
    op.create_index("ix_kb_links_kind_value", "kb_links", ["kind", "value"])
    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("article_id", sa.Integer, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("meta", Json, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_kb_versions_article", "kb_versions", ["article_id", "version"])
    op.create_table(
        "kb_search",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.Integer, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("flat", sa.Text, nullable=False),
        sa.Column("seg_title", sa.Text, nullable=False),
        sa.Column("seg_body", sa.Text, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.UniqueConstraint("kind", "ref", "lang", name="uq_kb_search_doc"),
    )
    op.create_table(
        "kb_suggestions",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("article_id", sa.Integer, sa.ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reasons", Json, nullable=False),
        sa.Column("suggested_at", Time, nullable=False),
        sa.Column("used_at", Time),
        sa.Column("used_by", sa.String(255)),
    )
    op.create_table(
        "kb_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    for statement in _PG_FTS if op.get_bind().dialect.name == "postgresql" else _SQLITE_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("kb_search_ai", "kb_search_ad", "kb_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_fts")
    for table in ("kb_state", "kb_suggestions", "kb_search", "kb_versions", "kb_links", "kb_translations"):
        op.drop_table(table)
    op.drop_index("ix_kb_articles_status", "kb_articles")
    op.drop_table("kb_articles")
