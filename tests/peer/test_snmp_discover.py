"""`opsagent inventory discover --snmp RANGE` over 127.0.0.0/8: a net-snmp host on 127.0.0.2, two
recorded Huawei switches on 127.0.0.3-4 (snmpsim), silence on .5-.6. Responders become assets with
their identification; a second run adds nothing."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsagent.collectors.snmp.discover import expand, kind_of, name_of
from tests.e2e.agent import opsagent
from tests.peers.snmp import COMMUNITY, free_udp_port, start_snmpd, start_snmpsim

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def lab() -> Iterator[int]:
    base = Path(tempfile.mkdtemp(prefix="opsagent-discover-"))
    (base / "d").mkdir()
    (base / "s").mkdir()
    port = free_udp_port()
    snmpd = start_snmpd(base / "d", host="127.0.0.2", port=port)
    sim = start_snmpsim(
        base / "s", {"huawei-s5720": "network/router/huawei-s5720"}, hosts=["127.0.0.3", "127.0.0.4"], port=port
    )
    try:
        yield port
    finally:
        sim.daemon.stop()
        snmpd.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_discover_adds_responders_with_identification(
    lab: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_T_DISC_A", "not-this-one")
    monkeypatch.setenv("OPSAGENT_T_DISC_B", COMMUNITY)
    monkeypatch.setenv("OPSAGENT_T_DISC_C", "huawei-s5720")
    args = ["inventory", "discover", "--snmp", "127.0.0.2-6", "--port", str(lab), "--timeout", "1", "-o", "json"]
    for ref in ("env:OPSAGENT_T_DISC_A", "env:OPSAGENT_T_DISC_B", "env:OPSAGENT_T_DISC_C"):
        args += ["--community", ref]
    done = opsagent(*args, "--group", "discovered", home=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["probed"] == 5
    found = {r["address"]: r for r in report["found"]}
    assert set(found) == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    assert found["127.0.0.2"]["kind"] == "host" and found["127.0.0.2"]["vendor"] == "Net-SNMP"
    assert found["127.0.0.3"]["kind"] == "network" and found["127.0.0.3"]["vendor"] == "Huawei"
    assert found["127.0.0.3"]["model"] == "S5720-36C-EI-AC"
    assert len({r["asset"] for r in report["found"]}) == 3  # same sysName twice: both kept
    show = json.loads(opsagent("inventory", "show", found["127.0.0.3"]["asset"], "-o", "json", home=tmp_path).stdout)
    text = json.dumps(show)
    assert "env:OPSAGENT_T_DISC_C" in text and 'huawei-s5720"' not in text.replace("env:OPSAGENT_T_DISC_C", "")
    assert "huawei" in text and "210235956210F7000410" in text  # profile chosen; serial among the facts
    again = json.loads(opsagent(*args, home=tmp_path).stdout)
    assert {r["status"] for r in again["found"]} == {"known"}


def test_pure_helpers() -> None:
    assert expand("127.0.0.0/30") == ["127.0.0.1", "127.0.0.2"]
    assert expand("10.0.0.250-10.0.1.1")[-1] == "10.0.1.1" and len(expand("10.0.0.5-20")) == 16
    assert kind_of("NetApp", "NetApp Release 9.1") == "storage" and kind_of("Cisco", "Cisco IOS") == "network"
    assert name_of("core sw#1", "10.0.0.1") == "core-sw-1" and name_of("", "10.0.0.1") == "snmp-10.0.0.1"
