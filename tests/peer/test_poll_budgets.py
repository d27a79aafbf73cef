"""Which budget a target's polls take is judged by what its poll returned, against real peers: an SNMP
device that answers slowly but correctly (snmpsim's ``delay`` variation: every poll takes over 1 s, as
a healthy device does on a loaded machine) keeps its place among healthy targets and is never queued
behind dead ones; a TCP probe of a port that never answers (an OK poll that waited out its timeout)
is judged failing, a refused one is not."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.base import CollectResult
from opsagent.collectors.probe import ProbeCollector
from opsagent.collectors.snmp import SnmpCollector
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller
from tests.peer.test_snmp_collector import v2c
from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon
from tests.peers.snmp import HINT, SNMPSIM_VENV, free_udp_port, snmp_answers

pytestmark = pytest.mark.peer
COMMUNITY = "slow-device"
DELAY_MS = 1300  # every poll of the slow device waits this long for its sysUpTime
# a few system scalars; sysUpTime answers only after DELAY_MS (snmpsim's delay variation module)
RECORDING = f"""1.3.6.1.2.1.1.1.0|4|slow but healthy test device
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
1.3.6.1.2.1.1.3.0|67:delay|value=123456,wait={DELAY_MS}
1.3.6.1.2.1.1.4.0|4|ops@example.invalid
1.3.6.1.2.1.1.5.0|4|slow-device
1.3.6.1.2.1.1.6.0|4|lab
"""
OPTIONS = {"identify": False, "timeout": "5s", "retries": 0}


@pytest.fixture(scope="module")
def slow_device() -> Iterator[int]:
    """snmpsim serving one recording whose sysUpTime answers after DELAY_MS; yields its UDP port."""
    binary = SNMPSIM_VENV / "bin" / "snmpsim-command-responder"
    if not binary.exists():
        raise RuntimeError(f"{binary} missing: {HINT}")
    base = Path(tempfile.mkdtemp(prefix="opsagent-slowdev-"))
    (base / "data").mkdir()
    (base / "data" / f"{COMMUNITY}.snmprec").write_text(RECORDING)
    port = free_udp_port()
    argv = [str(binary), f"--data-dir={base / 'data'}", f"--cache-dir={base / 'cache'}"]
    argv.append(f"--agent-udpv4-endpoint={LOCALHOST}:{port}")
    daemon = Daemon("snmpsim", argv, base / "snmpsim.log", env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"})
    try:
        daemon.wait_ready(lambda: snmp_answers(port, COMMUNITY, 2.0), timeout=120)
        yield port
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A UDP port bound by a socket that never reads: SNMP requests go unanswered (a dead device)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        yield sock.getsockname()[1]


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A TCP port whose SYNs go unanswered: accept queue full, nobody accepts (a firewall DROP)."""
    with socket.socket() as listener:
        listener.bind((LOCALHOST, 0))
        listener.listen(0)
        with socket.create_connection((LOCALHOST, listener.getsockname()[1]), timeout=5):
            yield listener.getsockname()[1]


async def timed(poller: Poller, asset: Asset, spec: CollectorSpec) -> tuple[CollectResult, float]:
    started = time.monotonic()
    result = await poller.poll(asset, spec)
    return result, time.monotonic() - started


async def test_a_slow_but_correct_device_is_never_queued_behind_dead_ones(
    slow_device: int, silent_udp: int, monkeypatch: Any
) -> None:
    poller = Poller({"snmp": SnmpCollector()}, {}, MetricsRegistry(), max_concurrency=4, probation_concurrency=1)
    slow = v2c("slow-dev", slow_device, COMMUNITY, monkeypatch)
    spec = CollectorSpec(name="snmp", interval=60, timeout=8, options={**OPTIONS, "port": slow_device})
    first, took = await timed(poller, slow, spec)  # a first poll: no history yet
    assert first.ok, first.message
    assert took >= DELAY_MS / 1000  # really slow: over the 1 s that used to mark a target failing
    # six dead devices share the one slot of the failing targets' budget, 2 s each: a 12 s queue
    dead_spec = CollectorSpec(
        name="snmp", interval=60, timeout=4, options={**OPTIONS, "timeout": "2s", "port": silent_udp}
    )
    dead = [v2c(f"dead-{i}", silent_udp, "public", monkeypatch) for i in range(6)]
    queue = asyncio.gather(*(poller.poll(d, dead_spec) for d in dead))
    try:
        await asyncio.sleep(0.2)  # the dead devices now hold or wait for the failing budget's slot
        for _ in range(3):
            result, took = await timed(poller, slow, spec)
            assert result.ok, result.message
            # before: the slow device had joined the dead ones' queue (~12 s); now only its own delay
            assert took < 6.0, took
    finally:
        outcomes = await queue
    assert all(not r.ok for r in outcomes)


async def test_a_probe_of_a_silent_port_stalls_a_refused_one_does_not(blackhole: int) -> None:
    module = {"prober": "tcp", "timeout": "1s"}
    probe = ProbeCollector()

    async def run(port: int) -> CollectResult:
        options = {"modules": {"tcp": module}, "probes": [{"module": "tcp", "target": f"{LOCALHOST}:{port}"}]}
        return await probe.collect(Asset(name="p"), CollectorSpec(name="probe", interval=10, options=options), {})

    silent, refused = await run(blackhole), await run(free_port())
    assert silent.ok and refused.ok  # a failed probe is data (probe_success 0), not a failed poll
    assert silent.facts["probes"][f"tcp {LOCALHOST}:{blackhole}"]["reason"] == "timeout"
    assert silent.stalled  # it held its slot for the whole timeout: judged failing
    assert not refused.stalled  # answered at once (RST): nothing to keep apart
