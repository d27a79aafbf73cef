"""Exports: our YAML round-trips exactly; the Ansible YAML re-imports to the same hosts and groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from opsagent.inventory.export import to_ansible_yaml, to_native_yaml
from opsagent.inventory.importers.ansible import load_ansible
from opsagent.inventory.importers.csv_import import load_csv
from opsagent.inventory.importers.native import load_native
from opsagent.inventory.model import Asset, AssetKind, CollectorSpec, Group, Inventory
from opsagent.inventory.resolve import GroupIndex

_CARRIED = ("ssh", "become")  # credential sections Ansible has vars for
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inventories"


def without_source(inv: Inventory) -> dict[str, Any]:
    data = inv.model_dump()
    for asset in data["assets"].values():
        asset.pop("source")
    return data


def comparable(inv: Inventory) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the Ansible form carries; membership sorted, as file order may differ."""
    assets = {
        name: {
            "groups": sorted(a.groups),
            "address": a.address,
            "port": a.port,
            "vars": a.vars,
            "kind": a.kind,
            "credentials": {s: f for s, f in a.credentials.items() if s in _CARRIED},
        }
        for name, a in inv.assets.items()
    }
    groups = {name: {"children": sorted(g.children), "vars": g.vars} for name, g in inv.groups.items()}
    return assets, groups


def rich_inventory() -> Inventory:
    return Inventory(
        groups={
            "all": Group(name="all", vars={"ntp": "ntp.example.com"}),
            "prod": Group(name="prod", description="production", children=["web", "db"], vars={"env": "prod"}),
            "web": Group(name="web", collectors=[CollectorSpec(name="ssh", profile="linux", interval="30s")]),
            "db": Group(name="db", vars={"pg": {"version": 16, "replicas": [1, 2]}}),
        },
        assets={
            "web01": Asset(
                name="web01",
                address="10.0.0.11",
                port=2222,
                groups=["web"],
                tags={"dc": "bj"},
                vars={"note": "前端 server"},
                description="front",
                credentials={"ssh": {"user": "ops", "password": "env:WEB_PW"}},
            ),
            "db01": Asset(
                name="db01",
                kind=AssetKind.DATABASE,
                address="10.0.0.21",
                groups=["db", "web"],
                credentials={
                    "ssh": {"user": "ops"},
                    "become": {"password": "file:/run/secrets/db"},
                    "postgres": {"password": "env:PG_PW"},
                },
            ),
            "sw01": Asset(
                name="sw01",
                kind=AssetKind.NETWORK,
                vars={"ansible_network_os": "ios"},
                credentials={"ssh": {"user": "ops"}},
            ),
            "fw01": Asset(name="fw01", kind=AssetKind.NETWORK, credentials={"ssh": {"user": "ops"}}),
        },
    )


@pytest.fixture(params=["ansible/hosts", "ansible/hosts.yml", "assets.csv", "rich"])
def inventory(request: pytest.FixtureRequest) -> Inventory:
    if request.param == "rich":
        return rich_inventory()
    path = FIXTURES / request.param
    return load_csv(path) if path.suffix == ".csv" else load_ansible(path)


def test_native_yaml_round_trips(inventory: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(to_native_yaml(inventory), encoding="utf-8")
    assert without_source(load_native(path)) == without_source(inventory)


def test_native_yaml_is_readable(tmp_path: Path) -> None:
    text = to_native_yaml(rich_inventory())
    assert "前端 server" in text  # allow_unicode: not \u escapes
    data = yaml.safe_load(text)
    assert data["groups"]["web"] == {"collectors": [{"name": "ssh", "profile": "linux", "interval": 30.0}]}
    assert data["assets"][0] == {
        "name": "web01",
        "address": "10.0.0.11",
        "port": 2222,
        "description": "front",
        "groups": ["web"],
        "tags": {"dc": "bj"},
        "vars": {"note": "前端 server"},
        "credentials": {"ssh": {"user": "ops", "password": "env:WEB_PW"}},
    }
    assert "source" not in text


def test_empty_inventory(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(to_native_yaml(Inventory()), encoding="utf-8")
    assert load_native(path) == Inventory()
    assert yaml.safe_load(to_ansible_yaml(Inventory())) == {"all": {}}


def test_ansible_yaml_reimports_to_the_same_assets_and_groups(inventory: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(to_ansible_yaml(inventory), encoding="utf-8")
    again = load_ansible(path)
    assert comparable(again) == comparable(inventory)
    index, index_again = GroupIndex(inventory), GroupIndex(again)
    for name, asset in inventory.assets.items():
        assert index_again.effective_vars(again.assets[name]) == index.effective_vars(asset)


def test_ansible_yaml_shape() -> None:
    data = yaml.safe_load(to_ansible_yaml(rich_inventory()))["all"]
    assert data["vars"] == {"ansible_user": "ops", "ntp": "ntp.example.com"}  # shared user hoisted once
    assert set(data["hosts"]) == {"sw01", "fw01"}  # ungrouped
    assert list(data["children"]) == ["prod"]  # only top-level groups at the top
    prod = data["children"]["prod"]
    assert prod["vars"] == {"env": "prod"}
    web01 = prod["children"]["web"]["hosts"]["web01"]
    assert web01 == {
        "ansible_host": "10.0.0.11",
        "ansible_port": 2222,
        "ansible_password": "{{ lookup('env', 'WEB_PW') }}",
        "note": "前端 server",
    }
    db01 = prod["children"]["web"]["hosts"]["db01"]  # prod lists web first
    assert db01["ansible_become_password"] == "{{ lookup('file', '/run/secrets/db') }}"
    assert db01["opsagent_kind"] == "database"
    assert prod["children"]["db"]["hosts"]["db01"] == {}  # vars are written at the first mention only
    assert "opsagent_kind" not in data["hosts"]["sw01"]  # implied by ansible_network_os
    assert data["hosts"]["fw01"] == {"opsagent_kind": "network"}


def test_assets_only_in_implicit_groups_are_kept() -> None:
    inv = Inventory(assets={"h": Asset(name="h", groups=["all"], address="10.0.0.1")})
    assert yaml.safe_load(to_ansible_yaml(inv))["all"]["hosts"] == {"h": {"ansible_host": "10.0.0.1"}}


def test_ansible_yaml_of_the_ini_fixture_nests_datacenters() -> None:
    data = yaml.safe_load(to_ansible_yaml(load_ansible(FIXTURES / "ansible" / "hosts")))["all"]
    bj = data["children"]["prod"]["children"]["datacenters"]["children"]["bj"]
    assert bj["vars"] == {"dc": "bj", "rack_prefix": "BJ-A"}
    assert set(bj["children"]) == {"web_bj", "db_bj", "switches_bj", "firewalls"}
    switches = bj["children"]["switches_bj"]
    assert switches["hosts"]["sw-bj-core1"]["ansible_password"] == "{{ lookup('env', 'NET_PASSWORD') }}"
    assert data["vars"]["ansible_user"] == "ops"
    assert data["hosts"]["jump01"] == {"ansible_host": "192.0.2.10", "ansible_port": 2202}
