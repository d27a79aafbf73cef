"""Alert states of a cluster member: each agent keeps (and restores) its own rows of ``alert_states``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite

from opsagent.store import Store, schema


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows whose fingerprint another member saved already are left to it (one row per alert)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(schema.alert_states).on_conflict_do_nothing(), rows)


def save_member_states(store: Store, agent: str, rows: list[dict[str, Any]]) -> None:
    with store.transaction() as conn:
        conn.execute(delete(schema.alert_states).where(schema.alert_states.c.agent == agent))
        if rows:
            _insert_new(conn, [r | {"agent": agent} for r in rows])
