"""End to end: `opsagent serve` backs up device configurations on a schedule (netmiko against the
IOS emulator): the first fetch comes soon after start, a failure is a metric with its reason and an
event of the asset, and an asset opting out gets no job."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.agent import opsagent, start_agent, wait_until
from tests.peers.netdevice import ENABLE, PASSWORD, USER, IosDevice

pytestmark = pytest.mark.peer
CONFIG = (
    "!\nhostname sw1\nsnmp-server community Sched-Comm-9 RO\ninterface GigabitEthernet0/1\n description up\n!\nend\n"
)


def _asset(name: str, port: int, password_env: str, extra: str = "") -> str:
    return (
        f"  - name: {name}\n    kind: network\n    address: 127.0.0.1\n    port: {port}\n"
        f"    credentials: {{cli: {{user: {USER}, password: 'env:{password_env}', secret: 'env:OPSAGENT_T_SB_EN'}}}}\n"
        f"    vars: {{device_type: cisco_ios, accept_unknown_host_key: true, config_backup_timeout: 20s{extra}}}\n"
    )


def _sample(metrics: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None


def test_serve_backs_up_on_schedule(ios_device: IosDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_T_SB_PW", PASSWORD)
    monkeypatch.setenv("OPSAGENT_T_SB_BAD", "wrong-Sched-pw")
    monkeypatch.setenv("OPSAGENT_T_SB_EN", ENABLE)
    ios_device.set_config(CONFIG)
    inv = "assets:\n" + _asset("sched-sw1", ios_device.port, "OPSAGENT_T_SB_PW", ", config_backup_interval: 1h")
    inv += _asset("sched-sw2", ios_device.port, "OPSAGENT_T_SB_BAD")
    inv += _asset("sched-sw3", ios_device.port, "OPSAGENT_T_SB_PW", ", config_backup: false")
    (tmp_path / "inv.yaml").write_text(inv)
    assert opsagent("inventory", "import", str(tmp_path / "inv.yaml"), home=tmp_path).returncode == 0
    agent = start_agent(tmp_path)
    try:

        def both_done() -> str | None:
            text = agent.get("/metrics")[2]
            ok = _sample(text, "opsagent_config_backup_last_success_timestamp_seconds", asset="sched-sw1")
            bad = _sample(text, "opsagent_config_backup_failures_total", asset="sched-sw2", reason="auth")
            return text if ok and bad else None

        metrics = wait_until(both_done, 120, "a scheduled backup and a failure", agent.log, agent.proc)
    finally:
        agent.stop()
    assert _sample(metrics, "opsagent_config_backup_success", asset="sched-sw1") == 1.0
    assert _sample(metrics, "opsagent_config_backup_success", asset="sched-sw2") == 0.0
    assert _sample(metrics, "opsagent_config_backup_changes_total", asset="sched-sw1") == 1.0
    assert "opsagent_config_backup_scheduled 2.0" in metrics  # sw3 opted out
    assert 'asset="sched-sw3"' not in metrics
    versions = json.loads(opsagent("config", "versions", "sched-sw1", "-o", "json", home=tmp_path).stdout)
    assert [v["rev"] for v in versions] == [1]
    events = json.loads(opsagent("events", "-o", "json", home=tmp_path).stdout)
    failed = [e for e in events if e["asset"] == "sched-sw2"]
    assert failed and failed[0]["kind"] == "config_backup" and "auth" in failed[0]["name"]
    assert any(e["asset"] == "sched-sw1" and "rev 1" in e["name"] for e in events)
    log = agent.log.read_text()
    assert "wrong-Sched-pw" not in log and PASSWORD not in log and "Sched-Comm-9" not in metrics
