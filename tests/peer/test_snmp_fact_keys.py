"""Interface names with dots survive the store: a real Topsec firewall recording (108 interfaces, 85
of them ``vlan.0004``-style) polled through snmpsim is stored and shown with all 108, and its
history keys name one interface each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.agent import opsagent
from tests.peers.snmp import Snmpsim, bulkwalk

pytestmark = pytest.mark.peer
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"  # no ifXTable in this recording: names are ifDescr


def test_dotted_interface_names_round_trip_through_the_store(
    snmpsim_agent: Snmpsim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    community = "topsec-ngfw4000-uf"
    names = {v.strip('"') for v in bulkwalk(snmpsim_agent.port, IF_DESCR, ["-v2c", "-c", community]).values()}
    assert len(names) == 108 and sum("." in n for n in names) == 85  # the recording as the issue saw it
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "assets:\n  - name: fw1\n    kind: network\n    address: 127.0.0.1\n"
        f"    port: {snmpsim_agent.port}\n    credentials: {{snmp: {{community: 'env:OPSAGENT_T_FW1'}}}}\n"
        "    collectors: [{name: snmp, profile: default, timeout: 20s}]\n"
    )
    monkeypatch.setenv("OPSAGENT_T_FW1", community)
    assert opsagent("inventory", "import", str(inv), home=tmp_path).returncode == 0
    polled = opsagent("poll", "fw1", "-o", "json", home=tmp_path)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    show = json.loads(opsagent("inventory", "show", "fw1", "-o", "json", home=tmp_path).stdout)
    interfaces = show["facts"]["interfaces"]
    assert set(interfaces) == names
    assert all(isinstance(v, dict) and "oper_status" in v for v in interfaces.values())
    assert interfaces["vlan.0004"]["index"] != interfaces["vlan.0005"]["index"]
    history = opsagent("inventory", "history", "fw1", "--key", "interfaces.vlan\\.0004.*", "-o", "json", home=tmp_path)
    rows = json.loads(history.stdout)
    assert rows and {r["key"].rsplit(".", 1)[0] for r in rows} == {"interfaces.vlan\\.0004"}
    assert {r["key"] for r in rows} >= {"interfaces.vlan\\.0004.index", "interfaces.vlan\\.0004.oper_status"}
    os_rows = json.loads(opsagent("inventory", "history", "fw1", "--key", "os.*", "-o", "json", home=tmp_path).stdout)
    assert {r["key"] for r in os_rows} == {"os.name", "os.version"}
