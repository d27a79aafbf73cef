from __future__ import annotations

import pytest

from opsagent.errors import SelectorError
from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.inventory.resolve import GroupIndex
from opsagent.inventory.selectors import select


@pytest.fixture
def inv() -> Inventory:
    groups = {
        "prod": Group(name="prod", children=["web", "db"], vars={"env": "prod", "ntp": "a"}),
        "web": Group(name="web", vars={"role": "web", "ntp": "b"}),
        "db": Group(name="db", vars={"role": "db"}),
        "all": Group(name="all", vars={"ntp": "global", "dns": "1.1.1.1"}),
    }
    assets = {
        a.name: a
        for a in [
            Asset(name="web01", address="10.0.0.1", groups=["web"], tags={"dc": "bj"}),
            Asset(name="web02", address="10.0.0.2", groups=["web"], tags={"dc": "sh"}),
            Asset(name="web03", address="10.0.0.3", groups=["web"], vars={"ntp": "host"}),
            Asset(name="pg01", kind="database", address="10.0.1.1", groups=["db"], tags=["critical"]),
            Asset(name="sw01", kind="network", address="10.0.9.1"),
        ]
    }
    return Inventory(groups=groups, assets=assets)


def names(inv: Inventory, pattern: str) -> list[str]:
    return [a.name for a in select(inv, pattern)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("all", ["web01", "web02", "web03", "pg01", "sw01"]),
        ("web", ["web01", "web02", "web03"]),
        ("prod", ["web01", "web02", "web03", "pg01"]),
        ("web:&prod:!web03", ["web01", "web02"]),
        ("!web03:web:&prod", ["web01", "web02"]),  # Ansible's order: union, then &, then !
        ("web,pg01", ["web01", "web02", "web03", "pg01"]),
        ("web0*", ["web01", "web02", "web03"]),
        ("w*:!web02", ["web01", "web03"]),  # a glob matches group names too
        ("~web0[12]", ["web01", "web02"]),
        ("kind=network", ["sw01"]),
        ("kind=host:&tag=dc=bj", ["web01"]),
        ("tag=dc", ["web01", "web02"]),
        ("tag=critical", ["pg01"]),
        ("group=db", ["pg01"]),
        ("ungrouped", ["sw01"]),
        ("10.0.0.2", ["web02"]),
        ("address=10.0.1.*", ["pg01"]),
        ("!web", ["pg01", "sw01"]),
    ],
)
def test_selectors(inv: Inventory, pattern: str, expected: list[str]) -> None:
    assert names(inv, pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("webb", "matches no group or asset"),
        ("web:&nosuch", "matches no group or asset"),
        ("kind=router", "unknown kind"),
        ("color=red", "unknown selector key"),
        ("~web(", "invalid regex"),
        ("", "empty selector"),
        ("web:!", "missing a name"),
    ],
)
def test_bad_selectors_are_errors_not_empty_matches(inv: Inventory, pattern: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        select(inv, pattern)


def test_vars_inheritance_follows_ansible_precedence(inv: Inventory) -> None:
    index = GroupIndex(inv)
    assert index.effective_vars(inv.assets["web01"]) == {"ntp": "b", "dns": "1.1.1.1", "env": "prod", "role": "web"}
    assert index.effective_vars(inv.assets["web03"])["ntp"] == "host"
    assert index.effective_vars(inv.assets["pg01"])["ntp"] == "a"
    assert index.effective_vars(inv.assets["sw01"]) == {"ntp": "global", "dns": "1.1.1.1"}
    assert index.groups_of(inv.assets["pg01"]) == {"all", "db", "prod"}


def test_group_cycles_and_unknown_children_are_rejected() -> None:
    with pytest.raises(ValueError, match="group cycle"):
        Inventory(groups={"a": Group(name="a", children=["b"]), "b": Group(name="b", children=["a"])})
    with pytest.raises(ValueError, match="unknown child group"):
        Inventory(groups={"a": Group(name="a", children=["zz"])})
