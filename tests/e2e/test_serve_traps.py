"""End to end: `opsagent serve` receives SNMP traps (v2c, v3 authPriv) from net-snmp's snmptrap on its
configured UDP port; `opsagent events` lists them with the sending asset and resolved names."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.agent import opsagent, start_agent, wait_until
from tests.peers.snmp import free_udp_port

pytestmark = pytest.mark.peer
ENGINE = "0x80000000010a0b0c"


def test_traps_become_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_udp_port()
    monkeypatch.setenv("OPSAGENT_T_TRAPC", "trap-e2e-comm")
    monkeypatch.setenv("OPSAGENT_T_TRAPA", "trap-e2e-auth1")
    monkeypatch.setenv("OPSAGENT_T_TRAPP", "trap-e2e-priv1")
    (tmp_path / "opsagent.yaml").write_text(
        f"traps:\n  listen: 127.0.0.1:{port}\n  communities: ['env:OPSAGENT_T_TRAPC']\n"
        "  users:\n    - {name: e2euser, auth_protocol: SHA-256, auth_password: 'env:OPSAGENT_T_TRAPA',\n"
        f"       priv_protocol: AES-256, priv_password: 'env:OPSAGENT_T_TRAPP', engine_id: '{ENGINE}'}}\n"
    )
    # the seeded localhost also has 127.0.0.1: an explicit trap source wins over an address
    inv = "assets:\n  - {name: sw-lab, kind: network, address: 127.0.0.9, vars: {snmp_trap_sources: [127.0.0.1]}}\n"
    (tmp_path / "inv.yaml").write_text(inv)
    assert opsagent("inventory", "import", str(tmp_path / "inv.yaml"), home=tmp_path).returncode == 0
    agent = start_agent(tmp_path)
    try:
        env = {**os.environ, "MIBS": ""}
        target = f"127.0.0.1:{port}"
        v2 = ["snmptrap", "-v2c", "-c", "trap-e2e-comm", target, "", "1.3.6.1.6.3.1.1.5.1"]
        subprocess.run(v2, env=env, check=True, timeout=30)
        v3 = ["snmptrap", "-v3", "-e", ENGINE, "-u", "e2euser", "-l", "authPriv", "-a", "SHA-256", "-A"]
        v3 += ["trap-e2e-auth1", "-x", "AES-256", "-X", "trap-e2e-priv1", target, "", "1.3.6.1.6.3.1.1.5.2"]
        subprocess.run(v3, env=env, check=True, timeout=30)

        def listed() -> list[dict[str, object]] | None:
            done = opsagent("events", "-o", "json", home=tmp_path)
            rows = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []
            return rows if len(rows) >= 2 else None

        rows = wait_until(listed, 30, "two events", agent.log, agent.proc)
    finally:
        agent.stop()
    assert sorted(r["name"] for r in rows) == ["coldStart", "warmStart"]
    assert {r["asset"] for r in rows} == {"sw-lab"} and {r["kind"] for r in rows} == {"snmp_trap"}
    table = opsagent("events", "--asset", "sw-lab", home=tmp_path)
    assert "coldStart" in table.stdout and "trap-e2e" not in table.stdout
    assert "trap-e2e" not in agent.log.read_text()
