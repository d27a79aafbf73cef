"""The stdlib-sqlite3 inventory read of shell commands (opsagent/store/quickread.py) returns exactly what
the store layer returns, and steps aside whenever it cannot be sure."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import insert

from opsagent.inventory.model import Asset, CollectorSpec, Group, Inventory
from opsagent.store import Store, quickread, schema, sqlite_url
from opsagent.store import inventory_repo as repo
from opsagent.store.engine import now
from tests.store.test_store import sample_inventory


def _filled(tmp_path: Path) -> Store:
    store = Store(sqlite_url(tmp_path / "store.db"))
    repo.save_inventory(store, sample_inventory(), actor="tester")
    odd = Asset(
        name="printer-3F",
        address="10.0.3.7",
        port=9100,
        description='走廊 "quoted" \' \\ null',
        tags={"楼层": "3", "empty": ""},
        vars={"nested": {"list": [1, None, "二"]}, "none": None},
        collectors=[CollectorSpec(name="probe", interval=60, options={"url": "http://x/?a=1&b=2"})],
    )
    repo.save_inventory(store, Inventory(assets={odd.name: odd}, groups={"g": Group(name="g", vars={"k": None})}))
    with store.engine.begin() as conn:
        row = {"source": "a.yaml", "vars": {"ntp": "10.0.0.2"}, "updated_at": now()}
        conn.execute(insert(schema.inventory_sources).values(**row))
    return store


def test_same_inventory_as_the_store_layer(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    expected = repo.load_inventory(store)
    found = quickread.load_inventory(store.url)
    assert found is not None
    assert found.model_dump() == expected.model_dump()
    assert list(found.assets) == list(expected.assets)  # the same order (by name)
    assert quickread.asset_count(store.url) == repo.asset_count(store) == 3


def test_columns_are_the_schema_columns() -> None:
    for table, columns in ((schema.groups, quickread.GROUP_COLUMNS), (schema.assets, quickread.ASSET_COLUMNS)):
        assert set(columns) <= set(table.c.keys())
        json_cols = {c for c in columns if isinstance(table.c[c].type, schema.Json)}
        assert json_cols == set(columns) & quickread.JSON_COLUMNS
    assert {"source", "vars"} <= set(schema.inventory_sources.c.keys())


def test_steps_aside_when_it_cannot_be_sure(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    assert quickread.load_inventory("postgresql://u@127.0.0.1/x") is None
    assert quickread.load_inventory("sqlite://") is None
    assert quickread.load_inventory("sqlite:///:memory:") is None
    assert quickread.load_inventory(sqlite_url(tmp_path / "missing.db")) is None
    (tmp_path / "garbage.db").write_bytes(b"not a database at all" * 100)
    assert quickread.load_inventory(sqlite_url(tmp_path / "garbage.db")) is None
    store.close()
    with sqlite3.connect(tmp_path / "store.db") as conn:  # a store from another release: migrate first
        conn.execute("UPDATE alembic_version SET version_num = '0001_inventory'")
    assert quickread.load_inventory(store.url) is None
    assert quickread.asset_count(store.url) is None


def test_reads_json_null_and_sql_null(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("UPDATE assets SET source = NULL, address = NULL WHERE name = 'web01'")
        raw = conn.execute("SELECT vars FROM groups WHERE name = 'g'").fetchone()[0]
    assert json.loads(raw) == {"k": None}
    found = quickread.load_inventory(store.url)
    assert found is not None and found.assets["web01"].source is None and found.groups["g"].vars == {"k": None}


def test_inventory_list_runs_without_sqlalchemy(tmp_path: Path) -> None:
    """What keeps `inventory list` within a shell command's start-up budget (bench/bench_startup.py
    measures the time): the store layer, and SQLAlchemy with it, is not imported."""
    _filled(tmp_path).close()
    (tmp_path / "store.db").rename(tmp_path / "opsagent.db")
    env = os.environ | {"OPSAGENT_HOME": str(tmp_path)}
    probe = (
        "import sys\nfrom opsagent.cli import main\nsys.argv = ['opsagent', 'inventory', 'list', '-o', 'tsv']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert "printer-3F" in out and "web01" in out
    assert "LOADED []" in out
