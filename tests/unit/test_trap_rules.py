"""Trap rules as content: loading with file:line errors, matching, context and actions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from opsagent.content import check_paths
from opsagent.errors import ConfigError
from opsagent.inventory.facts import flatten
from opsagent.loader import parse_yaml_text
from opsagent.traps import names
from opsagent.traps.match import actions_for, interface_index, trap_context
from opsagent.traps.receiver import TrapEvent
from opsagent.traps.rules import compile_document, load_trap_rules

ROOT = Path(__file__).resolve().parents[2]
IF = "1.3.6.1.2.1.2.2.1"


def _event(trap_oid: str, name: str, binds: list[tuple[str, str, str]], source: str = "10.0.0.1") -> TrapEvent:
    varbinds = [{"oid": "1.3.6.1.2.1.1.3.0", "name": "sysUpTime.0", "value": "123"}]
    varbinds += [{"oid": o, "name": n, "value": v} for o, n, v in binds]
    return TrapEvent(datetime.now(UTC), source, trap_oid, name, varbinds)


def _link_down(index: int, admin: str = "1") -> TrapEvent:
    binds = [(f"{IF}.1.{index}", f"ifIndex.{index}", str(index)), (f"{IF}.7.{index}", f"ifAdminStatus.{index}", admin)]
    return _event(names.KNOWN["IF-MIB::linkDown"], "linkDown", binds)


def test_names_resolve_known_bare_and_numeric() -> None:
    assert names.resolve("IF-MIB::linkDown") == "1.3.6.1.6.3.1.1.5.3"
    assert names.resolve("coldStart") == "1.3.6.1.6.3.1.1.5.1"
    assert names.resolve(".1.3.6.1.4.1.9.0.1") == "1.3.6.1.4.1.9.0.1"
    assert names.resolve("IF-MIB::linkDwn") is None
    assert names.full_name("1.3.6.1.6.3.1.1.5.4") == "IF-MIB::linkUp"


def test_shipped_rules_load_and_route_link_down_up() -> None:
    rules = load_trap_rules([ROOT])
    context = trap_context(_link_down(7), "sw1", {"7": {"ifName": "Gi0/7", "ifAlias": "uplink", "ifDescr": ""}})
    assert context["index"] == "7" and context["ifName"] == "Gi0/7" and context["ifAlias"] == "uplink"
    [fire] = actions_for(rules, context)
    assert fire.status == "firing" and fire.labels["alertname"] == "SnmpLinkDown"
    assert fire.labels["asset"] == "sw1" and fire.labels["ifIndex"] == "7" and fire.labels["severity"] == "warning"
    assert fire.annotations["summary"] == "Interface Gi0/7 (ifIndex 7) down on sw1"
    up = _event(names.KNOWN["IF-MIB::linkUp"], "linkUp", [(f"{IF}.1.7", "ifIndex.7", "7")])
    [clear] = actions_for(rules, trap_context(up, "sw1"))
    assert clear.status == "resolved"
    assert clear.labels == {"alertname": "SnmpLinkDown", "asset": "sw1", "ifIndex": "7"}


def test_admin_down_and_unknown_traps_match_nothing() -> None:
    rules = load_trap_rules([ROOT])
    assert actions_for(rules, trap_context(_link_down(3, admin="2"), "sw1")) == []
    vendor = _event("1.3.6.1.4.1.99999.0.1", "1.3.6.1.4.1.99999.0.1", [])
    assert actions_for(rules, trap_context(vendor, "sw1")) == []


def test_unknown_sender_is_keyed_by_address() -> None:
    rules = load_trap_rules([ROOT])
    [fire] = actions_for(rules, trap_context(_link_down(7), None))
    assert "asset" not in fire.labels and fire.labels["instance"] == "10.0.0.1"


def test_sources_and_when_filters() -> None:
    doc = parse_yaml_text(
        "trap_rules:\n  - alert: CoreDown\n    traps: ['1.3.6.1.6.3.1.1.5.3']\n    sources: ['core-*']\n"
        "    when: ['ifIndex=~\"1|2\"']\n",
        "t.yaml",
    )
    rules = compile_document(doc)
    assert actions_for(rules, trap_context(_link_down(1), "core-sw1"))
    assert not actions_for(rules, trap_context(_link_down(1), "acc-sw1"))
    assert not actions_for(rules, trap_context(_link_down(5), "core-sw1"))


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("trap_rules:\n  - alert: A\n    traps: [IF-MIB::nope]\n", 3, "trap_rules.0.traps", "unknown trap"),
        ("trap_rules:\n  - alert: A\n    clears: B\n    traps: [linkUp]\n", 2, "trap_rules.0", "exactly one of"),
        ("trap_rules:\n  - alert: A\n    traps: [linkUp]\n    when: ['x=~\"(\"']\n", 4, "trap_rules.0.when", "regular"),
        (
            "trap_rules:\n  - alert: A\n    traps: [linkUp]\n    labels: {asset: x}\n",
            2,
            "trap_rules.0",
            "set by opsagent",
        ),
        (
            "trap_rules:\n  - alert: A\n    traps: [linkUp]\n    resolve_after: soon\n",
            4,
            "trap_rules.0.resolve_after",
            "duration",
        ),
        ("trap_rules:\n  - clears: Nobody\n    traps: [linkUp]\n", 2, "clears", "no trap rule opens"),
    ],
)
def test_invalid_rules_report_file_line_field(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = tmp_path / "alerts" / "traps.yaml"
    path.parent.mkdir()
    path.write_text(text)
    count, issues = check_paths([path], {})
    assert count == 1 and issues, text
    assert any(i.line == line and i.field == field and message in i.message for i in issues), [str(i) for i in issues]
    with pytest.raises(ConfigError):
        load_trap_rules([tmp_path])


def test_interface_index_from_flat_facts_with_dotted_names() -> None:
    facts = {
        "interfaces": {
            "Gi0/1.100": {"index": 12, "alias": "vlan 100"},
            "Gi0/1": {"index": 1, "descr": "GigabitEthernet0/1"},
            "vlan.0004": {"index": 4},
            "Gi0/2": {"index": 2},
        },
        "vendor": "cisco",
    }
    expected = {
        "12": {"ifName": "Gi0/1.100", "ifAlias": "vlan 100", "ifDescr": ""},
        "1": {"ifName": "Gi0/1", "ifAlias": "", "ifDescr": "GigabitEthernet0/1"},
        "4": {"ifName": "vlan.0004", "ifAlias": "", "ifDescr": ""},
        "2": {"ifName": "Gi0/2", "ifAlias": "", "ifDescr": ""},
    }
    assert interface_index(flatten(facts)) == expected
    assert interface_index(flatten({"device": facts})) == expected
    legacy = {  # keys stored before dots in names were escaped
        "device.interfaces.Gi0/1.100.index": 12,
        "device.interfaces.Gi0/1.100.alias": "vlan 100",
        "device.interfaces.Gi0/2.index": 2,
        "device.vendor": "cisco",
    }
    assert interface_index(legacy) == {
        "12": {"ifName": "Gi0/1.100", "ifAlias": "vlan 100", "ifDescr": ""},
        "2": {"ifName": "Gi0/2", "ifAlias": "", "ifDescr": ""},
    }
