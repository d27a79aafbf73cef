"""The store: SQLite (WAL) by default, PostgreSQL by URL. Knows tables, not business rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsagent.store.urls import sqlite_url

if TYPE_CHECKING:
    from opsagent.store.engine import Store

__all__ = ["Store", "sqlite_url"]


def __getattr__(name: str) -> Any:
    # SQLAlchemy loads with the first use of the store, not with every `import opsagent.store…`.
    if name == "Store":
        from opsagent.store.engine import Store

        return Store
    raise AttributeError(name)
