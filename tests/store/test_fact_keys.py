"""Fact keys round-trip any name (interface names hold dots: ``Gi0/1.100``, ``ge-0/0/0.0``,
``vlan.0004``), history keys are unambiguous and ``--key`` prefixes literal, on SQLite and
PostgreSQL; keys stored before the escaping are migrated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from opsagent.inventory.facts import flatten, join_key, split_key, unflatten
from opsagent.inventory.model import Asset, Inventory
from opsagent.store import Store, schema
from opsagent.store import inventory_repo as repo
from opsagent.store.engine import now

NAMES = ["Gi0/1", "Gi0/1.100", "ge-0/0/0.0", "ethernet1/13.4008", "vlan.0004", "tunnel.1", "a\\b.", "x_y%"]


def facts_with(names: list[str]) -> dict[str, Any]:
    interfaces = {n: {"index": i, "oper_status": "up", "alias": f"port {n}"} for i, n in enumerate(names, 1)}
    return {"vendor": "Topsec", "os": {"name": "TOS", "version": "3.3"}, "interfaces": interfaces}


def test_flat_keys_round_trip_any_name() -> None:
    facts = facts_with(NAMES) | {"serials": {"PEM 0.1": "S1", "Power.Supply\\2": "S2"}}
    flat = flatten(facts)
    assert unflatten(flat) == facts
    assert len({k for k in flat if k.startswith("interfaces.")}) == 3 * len(NAMES)
    assert flat["os.name"] == "TOS"  # names without dots read as before
    assert flat[join_key("interfaces", "vlan.0004", "index")] == 5
    assert split_key(join_key("interfaces", "a\\b.", "index")) == ["interfaces", "a\\b.", "index"]


def test_store_round_trip_and_unambiguous_history(store: Store) -> None:
    repo.save_inventory(store, Inventory(assets={"fw1": Asset(name="fw1", kind="network")}))
    facts = facts_with(NAMES)
    repo.record_facts(store, "fw1", "snmp", flatten(facts))
    assert unflatten(repo.current_facts(store, "fw1")) == facts
    changed = facts_with(NAMES)
    changed["interfaces"]["ge-0/0/0.0"]["oper_status"] = "down"
    changed["interfaces"]["Gi0/1"]["oper_status"] = "down"
    repo.record_facts(store, "fw1", "snmp", flatten(changed))
    one = repo.fact_history(store, "fw1", key=join_key("interfaces", "ge-0/0/0.0") + ".*")
    assert (one[0].key, one[0].old, one[0].new) == ("interfaces.ge-0/0/0\\.0.oper_status", "up", "down")
    assert {c.key.split(".")[1] for c in one} == {"ge-0/0/0\\"}  # never another interface's rows
    parent = repo.fact_history(store, "fw1", key="interfaces.Gi0/1.*")  # not Gi0/1.100's rows
    assert {tuple(split_key(c.key)[1:2]) for c in parent} == {("Gi0/1",)}
    assert [c.key for c in repo.fact_history(store, "fw1", key="interfaces.Gi0/1\\.100.*")]
    assert {c.key for c in repo.fact_history(store, "fw1", key="os.*")} == {"os.name", "os.version"}
    literal = repo.fact_history(store, "fw1", key="interfaces.x_y%.*")  # _ and % are no wildcards
    assert {split_key(c.key)[1] for c in literal} == {"x_y%"}
    assert repo.fact_history(store, "fw1", key="interfaces.x?y%.*") == []
    exact = repo.fact_history(store, "fw1", key=join_key("interfaces", "vlan.0004", "index"))
    assert [c.new for c in exact] == [5]


def test_migration_escapes_dotted_names_stored_before(store_url: str) -> None:
    old = Store(store_url, migrate=False)
    old.migrate("0008")
    stamp = now()
    legacy = {
        ("snmp", "interfaces.vlan.0004.index"): 4,
        ("snmp", "interfaces.ethernet1/13.4008.oper_status"): "up",
        ("snmp", "interfaces.Gi0/2.index"): 2,
        ("snmp", "serials.PEM 0.1"): "S1",
        ("snmp", "os.version"): "V3.2073N.2060N_NGFW.1",
        ("probe", "probes.http_2xx https://example.com/a.b.success"): True,
    }
    with old.engine.begin() as conn:
        asset_id = conn.execute(
            insert(schema.assets)
            .values(name="fw1", kind="network", address=None, port=None, description="", groups=[], tags={})
            .values(vars={}, credentials={}, collectors=[], source=None, created_at=stamp, updated_at=stamp)
        ).inserted_primary_key[0]
        for (collector, key), value in legacy.items():
            conn.execute(
                insert(schema.facts).values(
                    asset_id=asset_id, key=key, value=value, collector=collector, updated_at=stamp
                )
            )
            conn.execute(
                insert(schema.fact_history).values(
                    asset_id=asset_id, key=key, old_value=None, new_value=value, collector=collector, changed_at=stamp
                )
            )
    old.close()
    upgraded = Store(store_url)
    try:
        expected = {
            "interfaces.vlan\\.0004.index": 4,
            "interfaces.ethernet1/13\\.4008.oper_status": "up",
            "interfaces.Gi0/2.index": 2,
            "serials.PEM 0\\.1": "S1",
            "os.version": "V3.2073N.2060N_NGFW.1",
            "probes.http_2xx https://example\\.com/a\\.b.success": True,
        }
        assert repo.current_facts(upgraded, "fw1") == expected
        assert {c.key for c in repo.fact_history(upgraded, "fw1")} == set(expected)
        assert unflatten(expected)["interfaces"]["vlan.0004"] == {"index": 4}
        with upgraded.engine.connect() as conn:
            assert len(conn.execute(select(schema.fact_history)).all()) == len(legacy)
    finally:
        upgraded.close()
