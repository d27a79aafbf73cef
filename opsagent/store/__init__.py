"""The store: SQLite (WAL) by default, PostgreSQL by URL. Knows tables, not business rules."""

from opsagent.store.engine import Store, sqlite_url

__all__ = ["Store", "sqlite_url"]
