from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text

from opsagent.errors import StoreError
from opsagent.inventory.model import Asset, CollectorSpec, Group, Inventory
from opsagent.store import Store, schema, sqlite_url
from opsagent.store import inventory_repo as repo
from opsagent.store.engine import now

pytestmark = pytest.mark.peer


def sample_inventory() -> Inventory:
    return Inventory(
        groups={"prod": Group(name="prod", children=["web"], vars={"env": "prod"}), "web": Group(name="web")},
        assets={
            "web01": Asset(
                name="web01",
                address="10.0.0.1",
                groups=["web"],
                tags={"dc": "bj"},
                credentials={"ssh": {"user": "ops", "password": "env:WEB_PW"}},
                collectors=[CollectorSpec(name="local", interval=30)],
                source="a.yaml",
            ),
            "sw01": Asset(name="sw01", kind="network", address="10.0.9.1", source="a.yaml"),
        },
    )


def test_schema_matches_migrations(store: Store) -> None:
    """The Core table definitions and the migrated database never drift apart."""
    with store.engine.connect() as conn:
        opts = {"compare_type": False, "include_object": schema.include_object}  # kb's FTS index: one dialect's
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), schema.metadata)
    assert diff == []
    assert store.current_revision() == store.head_revision()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    s = Store(sqlite_url(tmp_path / "x.db"))
    with s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    s.close()


def test_inventory_round_trip_and_idempotent_import(store: Store) -> None:
    inv = sample_inventory()
    first = repo.save_inventory(store, inv, actor="tester")
    assert sorted(first.added) == ["sw01", "web01"]
    again = repo.save_inventory(store, inv, actor="tester")
    assert again.added == [] and again.updated == [] and again.unchanged == 2
    loaded = repo.load_inventory(store)
    assert loaded.assets == inv.assets
    assert loaded.groups["prod"].children == ["web"]
    # Only the reference is stored, as text.
    with store.engine.connect() as conn:
        creds = conn.execute(select(schema.assets.c.credentials).where(schema.assets.c.name == "web01")).scalar_one()
    assert creds == {"ssh": {"user": "ops", "password": "env:WEB_PW"}}
    actions = [row["action"] for row in store.audit_log()]
    assert actions == ["inventory.import", "inventory.import"]


def test_update_and_prune_by_source(store: Store) -> None:
    repo.save_inventory(store, sample_inventory())
    changed = sample_inventory()
    changed.assets["web01"] = changed.assets["web01"].model_copy(update={"address": "10.0.0.99"})
    del changed.assets["sw01"]
    summary = repo.save_inventory(store, changed, prune_source="a.yaml")
    assert summary.updated == ["web01"] and summary.removed == ["sw01"]
    assert set(repo.load_inventory(store).assets) == {"web01"}


def test_failed_import_leaves_store_unchanged(store: Store) -> None:
    repo.save_inventory(store, sample_inventory())
    before = repo.load_inventory(store)
    broken = sample_inventory()
    broken.assets["web02"] = Asset.model_construct(
        **{**broken.assets["web01"].__dict__, "name": "web02", "kind": None}
    )  # NOT NULL violation mid-transaction
    broken.assets["web01"] = broken.assets["web01"].model_copy(update={"address": "10.9.9.9"})
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error, whichever backend
        repo.save_inventory(store, broken)
    assert repo.load_inventory(store) == before
    assert len(store.audit_log()) == 1


def test_facts_history_stores_only_changes(store: Store) -> None:
    repo.save_inventory(store, sample_inventory())
    assert {c.key for c in repo.record_facts(store, "web01", "local", {"os.name": "Debian", "cpu.count": 2})} == {
        "os.name",
        "cpu.count",
    }
    assert repo.record_facts(store, "web01", "local", {"os.name": "Debian", "cpu.count": 2}) == []
    changes = repo.record_facts(store, "web01", "local", {"os.name": "Debian", "cpu.count": 4})
    assert [(c.key, c.old, c.new, c.kind) for c in changes] == [("cpu.count", 2, 4, "changed")]
    removed = repo.record_facts(store, "web01", "local", {"os.name": "Debian"})
    assert [(c.key, c.kind) for c in removed] == [("cpu.count", "removed")]
    # Another collector's facts are its own: SNMP facts do not remove local ones.
    repo.record_facts(store, "web01", "snmp", {"serial": "FOC123"})
    assert repo.current_facts(store, "web01") == {"os.name": "Debian", "serial": "FOC123"}
    history = repo.fact_history(store, "web01")
    assert [c.key for c in history][:2] == ["serial", "cpu.count"]
    assert len(history) == 5
    assert [c.new for c in repo.fact_history(store, "web01", key="cpu.*")] == [None, 4, 2]
    assert all(c.at.tzinfo is not None for c in history)


def test_facts_for_unknown_asset_are_ignored(store: Store) -> None:
    assert repo.record_facts(store, "ghost", "local", {"a": 1}) == []


def test_deleting_an_asset_removes_its_facts(store: Store) -> None:
    repo.save_inventory(store, sample_inventory())
    repo.record_facts(store, "sw01", "snmp", {"serial": "X"})
    assert repo.delete_assets(store, ["sw01"]) == 1
    with store.engine.connect() as conn:
        assert conn.execute(select(schema.facts)).all() == []


def test_upgrade_from_older_schema_keeps_data(store_url: str) -> None:
    """A database made by the first release (revision 0001) upgrades to head without loss."""
    old = Store(store_url, migrate=False)
    old.migrate("0001")
    assert "audit" not in inspect(old.engine).get_table_names()
    stamp = now()
    with old.engine.begin() as conn:
        conn.execute(
            insert(schema.assets).values(
                name="legacy01",
                kind="host",
                address="10.1.1.1",
                port=None,
                description="",
                groups=["old"],
                tags={},
                vars={"x": 1},
                credentials={},
                collectors=[],
                source=None,
                created_at=stamp,
                updated_at=stamp,
            )
        )
    old.close()
    upgraded = Store(store_url)
    assert upgraded.current_revision() == upgraded.head_revision()
    assert repo.load_inventory(upgraded).assets["legacy01"].vars == {"x": 1}
    assert upgraded.audit_log() == []
    upgraded.close()


def test_newer_schema_is_refused(store_url: str) -> None:
    s = Store(store_url)
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    s.close()
    with pytest.raises(StoreError, match="newer than this opsagent knows"):
        Store(store_url)


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot migrate store") as info:
        Store("postgresql+psycopg://nobody:sekrit@127.0.0.1:1/none?connect_timeout=2")
    assert "sekrit" not in str(info.value)
