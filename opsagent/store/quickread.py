"""The inventory of a SQLite store, read with the standard library's sqlite3 driver.

People run ``opsagent inventory list`` at a shell prompt and expect git's or kubectl's start-up; importing
SQLAlchemy alone costs half of that budget. When the store is a SQLite file already at the shipped schema,
this reads the three inventory tables with plain SQL, read-only; for anything else (PostgreSQL, a store to
create or migrate, a locked or unreadable file) it returns None and the caller opens the real store.
``tests/store/test_quickread.py`` holds the result equal to ``inventory_repo.load_inventory``."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.store.revisions import shipped_head

_URL = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?]+)$")
# Columns as in opsagent/store/schema.py; the JSON ones are stored as JSON text on SQLite.
GROUP_COLUMNS = ("name", "description", "children", "vars", "collectors", "source")
ASSET_COLUMNS = ("name", "kind", "address", "port", "description", "groups", "tags", "vars", "credentials",
                 "collectors", "source")  # fmt: skip
JSON_COLUMNS = frozenset({"children", "vars", "collectors", "groups", "tags", "credentials"})


def sqlite_file(url: str) -> Path | None:
    found = _URL.match(url)
    if found is None or found["path"] in ("", ":memory:"):
        return None
    return Path(found["path"])


def _rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], order: str = "") -> list[dict[str, Any]]:
    sql = f'SELECT {", ".join(columns)} FROM "{table}"{order}'  # names are this module's constants
    return [
        {c: json.loads(v) if c in JSON_COLUMNS and v is not None else v for c, v in zip(columns, row, strict=True)}
        for row in conn.execute(sql)
    ]


def _connect(url: str) -> sqlite3.Connection | None:
    path = sqlite_file(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        versions = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.Error:
        return None
    if versions != {shipped_head()}:
        conn.close()
        return None
    return conn


def asset_count(url: str) -> int | None:
    conn = _connect(url)
    if conn is None:
        return None
    with closing(conn):
        try:
            return int(conn.execute("SELECT count(*) FROM assets").fetchone()[0])
        except sqlite3.Error:
            return None


def load_inventory(url: str) -> Inventory | None:
    conn = _connect(url)
    if conn is None:
        return None
    with closing(conn):
        try:
            groups = _rows(conn, "groups", GROUP_COLUMNS)
            assets = _rows(conn, "assets", ASSET_COLUMNS, " ORDER BY name")
            sources = _rows(conn, "inventory_sources", ("source", "vars"))
        except sqlite3.Error:
            return None
    return Inventory(
        groups={g["name"]: Group.model_validate(g) for g in groups},
        assets={a["name"]: Asset.model_validate(a) for a in assets},
        source_vars={s["source"]: s["vars"] for s in sources},
    )
