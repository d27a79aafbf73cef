"""End to end: net-snmp's `snmptrap` (v2c and v3 authPriv) → `opsagent serve` → trap rules
(the shipped alerts/traps.yaml) → incidents: linkDown opens one, a repeat dedupes onto it, linkUp of
the same port resolves it, another port's linkDown is its own incident, an unmatched trap stays an
event only, and the incident's timeline shows every trap."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent import opsagent, start_agent, wait_until
from tests.peers.snmp import free_udp_port

pytestmark = pytest.mark.peer
ENGINE = "0x80000000010a0b0d"
IF = "1.3.6.1.2.1.2.2.1"


def _send(target: str, trap_oid: str, *varbinds: str, v3: bool = False) -> None:
    env = {**os.environ, "MIBS": ""}
    if v3:
        head = ["snmptrap", "-v3", "-e", ENGINE, "-u", "incuser", "-l", "authPriv", "-a", "SHA", "-A", "inc-auth-11"]
        head += ["-x", "AES", "-X", "inc-priv-11"]
    else:
        head = ["snmptrap", "-v2c", "-c", "inc-trap-comm"]
    subprocess.run([*head, target, "", trap_oid, *varbinds], env=env, check=True, timeout=30)


def _link(target: str, up: bool, index: int, admin: int = 1, v3: bool = False) -> None:
    oid = "1.3.6.1.6.3.1.1.5.4" if up else "1.3.6.1.6.3.1.1.5.3"
    binds = [f"{IF}.1.{index}", "i", str(index), f"{IF}.7.{index}", "i", str(admin)]
    binds += [f"{IF}.8.{index}", "i", "1" if up else "2", f"{IF}.2.{index}", "s", f"GigabitEthernet0/{index}"]
    _send(target, oid, *binds, v3=v3)


def _incidents(home: Path) -> list[dict[str, Any]]:
    done = opsagent("incident", "list", "-s", "all", "-o", "json", home=home)
    assert done.returncode == 0, done.stderr
    return [i for i in json.loads(done.stdout or "[]") if i["alertname"].startswith("Snmp")]


def _events(home: Path) -> list[dict[str, Any]]:
    done = opsagent("events", "-o", "json", "--limit", "500", home=home)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "[]")


def test_traps_open_dedupe_and_resolve_incidents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_udp_port()
    monkeypatch.setenv("OPSAGENT_T_INCC", "inc-trap-comm")
    monkeypatch.setenv("OPSAGENT_T_INCA", "inc-auth-11")
    monkeypatch.setenv("OPSAGENT_T_INCP", "inc-priv-11")
    (tmp_path / "opsagent.yaml").write_text(
        f"traps:\n  listen: 127.0.0.1:{port}\n  communities: ['env:OPSAGENT_T_INCC']\n"
        "  users:\n    - {name: incuser, auth_protocol: SHA, auth_password: 'env:OPSAGENT_T_INCA',\n"
        f"       priv_protocol: AES, priv_password: 'env:OPSAGENT_T_INCP', engine_id: '{ENGINE}'}}\n"
    )
    inv = "assets:\n  - {name: core-sw1, kind: network, address: 127.0.0.9, vars: {snmp_trap_sources: [127.0.0.1]}}\n"
    (tmp_path / "inv.yaml").write_text(inv)
    assert opsagent("inventory", "import", str(tmp_path / "inv.yaml"), home=tmp_path).returncode == 0
    agent = start_agent(tmp_path)
    target = f"127.0.0.1:{port}"
    try:
        _link(target, up=False, index=7)  # v2c linkDown on ifIndex 7 (admin up)
        first = wait_until(
            lambda: [i for i in _incidents(tmp_path) if i["status"] == "open"], 60, "an incident", agent.log, agent.proc
        )
        _link(target, up=False, index=7, v3=True)  # the same port again, over v3: dedupes
        _link(target, up=False, index=9, admin=2)  # admin shutdown: an event, no incident
        _link(target, up=False, index=8)  # another port: its own incident
        _send(target, "1.3.6.1.4.1.99999.0.1", "1.3.6.1.4.1.99999.1.1.0", "s", "vendor thing")  # no rule
        wait_until(lambda: len(_events(tmp_path)) >= 5, 60, "five events", agent.log, agent.proc)
        two = wait_until(
            lambda: (r := _incidents(tmp_path)) and len(r) == 2 and r, 60, "two incidents", agent.log, agent.proc
        )
        wait_until(
            lambda: any(i["count"] >= 2 for i in _incidents(tmp_path)), 60, "the repeat counted", agent.log, agent.proc
        )
        _link(target, up=True, index=7, v3=True)  # linkUp of ifIndex 7 clears only that incident

        def resolved() -> list[dict[str, Any]] | None:
            rows = _incidents(tmp_path)
            return rows if any(i["status"] == "resolved" for i in rows) else None

        after = wait_until(resolved, 60, "the linkDown incident resolved", agent.log, agent.proc)
        metrics = agent.get("/metrics")[2]
    finally:
        agent.stop()
    assert len(first) == 1 and len(two) == 2
    by_index = {i["labels"]["ifIndex"]: i for i in after}
    assert set(by_index) == {"7", "8"}
    assert by_index["7"]["status"] == "resolved" and by_index["8"]["status"] == "open"
    port7 = by_index["7"]
    assert port7["labels"]["asset"] == "core-sw1" and port7["labels"]["severity"] == "warning"
    assert port7["source"] == "snmp_trap" and port7["count"] == 2
    assert "GigabitEthernet0/7" in port7["annotations"]["description"]
    shown = json.loads(opsagent("incident", "show", str(port7["id"]), "-o", "json", home=tmp_path).stdout)
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds.count("trap") == 3, kinds  # opened by, repeated onto, cleared by
    assert kinds.index("opened") < kinds.index("resolved")
    trap_events = [e for e in shown["events"] if e["kind"] == "trap"]
    assert {e["detail"]["trap"] for e in trap_events} == {"linkDown", "linkUp"}
    events = _events(tmp_path)
    assert {e["name"] for e in events} >= {"linkDown", "linkUp", "1.3.6.1.4.1.99999.0.1"}
    assert "opsagent_traps_unmatched_total 2.0" in metrics  # the admin-down port and the vendor trap
    assert 'opsagent_trap_rule_actions_total{action="resolved"} 1.0' in metrics
    assert "inc-trap-comm" not in agent.log.read_text() and "inc-auth-11" not in agent.log.read_text()
