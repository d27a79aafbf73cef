"""`opsagent poll` of an SNMP asset records identification facts with history: when the device at the
address changes (another recording answers), the changed serial and vanished interfaces show in
`opsagent inventory history`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.agent import opsagent
from tests.peers.snmp import Snmpsim

pytestmark = pytest.mark.peer


def test_serial_change_and_vanished_interfaces_in_history(
    snmpsim_agent: Snmpsim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "assets:\n  - name: sw1\n    kind: network\n    address: 127.0.0.1\n"
        f"    port: {snmpsim_agent.port}\n    credentials: {{snmp: {{community: 'env:OPSAGENT_T_SW1'}}}}\n"
        "    collectors: [{name: snmp, profile: cisco}]\n"
    )
    assert opsagent("inventory", "import", str(inv), home=tmp_path).returncode == 0
    monkeypatch.setenv("OPSAGENT_T_SW1", "cisco-c3560")
    first = opsagent("poll", "sw1", "-o", "json", home=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "cisco-c3560" not in first.stdout  # the community never shows
    monkeypatch.setenv("OPSAGENT_T_SW1", "cisco-c3750")  # "the switch was replaced"
    assert opsagent("poll", "sw1", home=tmp_path).returncode == 0
    rows = json.loads(opsagent("inventory", "history", "sw1", "-o", "json", "--limit", "5000", home=tmp_path).stdout)
    changes: dict[str, dict[str, object]] = {}
    for row in rows:  # newest first: keep each key's latest change
        changes.setdefault(row["key"], row)
    serial = changes["serial"]
    assert (serial["old"], serial["new"]) == ("FOC1408Z61U", "FDO1622Y10H")
    assert changes["model"]["new"] == "WS-C3750G-12S-S"
    vanished = [k for k, r in changes.items() if k.startswith("interfaces.") and r["new"] is None]
    assert vanished, "interfaces of the old switch must show as removed"
    show = json.loads(opsagent("inventory", "show", "sw1", "-o", "json", home=tmp_path).stdout)
    assert "cisco-c37" not in json.dumps(show)
