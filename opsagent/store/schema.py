"""Table definitions (SQLAlchemy Core). DDL changes go through a new migration in ``migrations/``;
``tests/store`` checks these definitions against the migrated schema so the two never drift."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")
UtcDateTime = DateTime(timezone=True)

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("address", String(255)),
    Column("port", Integer),
    Column("description", Text, nullable=False, server_default=""),
    Column("groups", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("vars", Json, nullable=False),
    Column("credentials", Json, nullable=False),  # references only (env:/file:), never values
    Column("collectors", Json, nullable=False),
    Column("source", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("children", Json, nullable=False),
    Column("vars", Json, nullable=False),
    Column("collectors", Json, nullable=False),
)

facts = Table(
    "facts",
    metadata,
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Json),
    Column("collector", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

fact_history = Table(
    "fact_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("asset_id", Integer, ForeignKey("assets.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("old_value", Json),
    Column("new_value", Json),
    Column("collector", String(64), nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_fact_history_asset_time", "asset_id", "changed_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False, server_default=""),
    Column("detail", Json, nullable=False),
    Index("ix_audit_at", "at"),
)
