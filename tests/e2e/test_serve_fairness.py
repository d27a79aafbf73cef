"""Hundreds of dead targets never delay a healthy one, in a real `opsagent serve`.

Dead targets are 127.0.0.1 ports that never answer: a listener whose accept queue is full (one
connection held, ``listen(0)``) drops every further SYN, exactly as a firewall DROP does, so each
poll waits for its connect timeout; a UDP socket that never reads leaves SNMP unanswered. Some are
probed over TCP (asyncio), some are SNMP agents (asyncio), some PostgreSQL servers (a blocking
driver in a worker thread). Beside them, localhost is polled every second by the local collector
(psutil, in a worker thread). Its polls are counted from the agent's own
``opsagent_collect_last_success_timestamp_seconds`` (each successful poll stamps a new time).
Dead targets are polled every 10 s with 1-2 s timeouts: more than their budget of concurrent polls
can serve, so they queue (and skip polls) among themselves. Then SIGTERM with many polls in flight:
a clean, prompt stop with no traceback in the log.
"""

from __future__ import annotations

import itertools
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.agent import Agent, start_agent

pytestmark = pytest.mark.peer

DEAD_PROBES = 300  # TCP probes (asyncio)
DEAD_SNMP = 100  # SNMP agents that never answer (asyncio, UDP)
DEAD_DATABASES = 100  # PostgreSQL targets (psycopg in a worker thread)
DEAD_INTERVAL = "10s"
WATCH_SECONDS = 45.0


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A 127.0.0.1 UDP port bound by a socket that never reads: SNMP requests go unanswered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A 127.0.0.1 port whose SYNs go unanswered: accept queue full, nobody accepts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held = socket.create_connection(("127.0.0.1", port), timeout=5)  # fills the queue
    try:
        yield port
    finally:
        held.close()
        listener.close()


def write_content(home: Path, dead_port: int, silent_port: int) -> None:
    lines = [
        "assets:",
        "  - name: localhost",
        "    address: 127.0.0.1",
        "    collectors: [{name: local, interval: 1s}]",
    ]
    for i in range(DEAD_PROBES):
        lines += [
            f"  - name: dead-tcp-{i:03d}",
            "    address: 127.0.0.1",
            "    collectors:",
            "      - name: probe",
            f"        interval: {DEAD_INTERVAL}",
            "        options:",
            "          modules: {tcp_short: {prober: tcp, timeout: 2s}}",
            f"          probes: [{{module: tcp_short, target: '127.0.0.1:{dead_port}'}}]",
        ]
    for i in range(DEAD_SNMP):
        lines += [
            f"  - name: dead-snmp-{i:03d}",
            "    kind: network",
            "    address: 127.0.0.1",
            "    credentials: {snmp: {community: 'env:OPSAGENT_T_SNMP_COMMUNITY'}}",
            f"    collectors: [{{name: snmp, interval: {DEAD_INTERVAL}, options: {{port: {silent_port}, "
            "timeout: 1s, retries: 1}}]",
        ]
    for i in range(DEAD_DATABASES):
        lines += [
            f"  - name: dead-pg-{i:03d}",
            "    kind: database",
            "    address: 127.0.0.1",
            f"    port: {dead_port}",
            f"    collectors: [{{name: postgres, interval: {DEAD_INTERVAL}, options: {{connect_timeout: 2s}}}}]",
        ]
    (home / "inv.yaml").write_text("\n".join(lines) + "\n")
    (home / "opsagent.yaml").write_text("seed_inventory: [inv.yaml]\n")


def last_success(agent: Agent) -> float | None:
    body = agent.get("/metrics")[2]
    for family in text_string_to_metric_families(body):
        if family.name == "opsagent_collect_last_success_timestamp_seconds":
            for sample in family.samples:
                if sample.labels.get("asset") == "localhost":
                    return sample.value
    return None


def watch_polls(agent: Agent, seconds: float) -> list[float]:
    """Distinct success stamps of localhost seen while scraping /metrics every 0.2 s."""
    stamps: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        stamp = last_success(agent)
        if stamp is not None and (not stamps or stamp != stamps[-1]):
            stamps.append(stamp)
        time.sleep(0.2)
    return stamps


def test_dead_targets_never_delay_localhost(
    tmp_path: Path, blackhole: int, silent_udp: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_T_SNMP_COMMUNITY", "public")
    write_content(tmp_path, blackhole, silent_udp)
    agent = start_agent(tmp_path)
    try:
        stamps = watch_polls(agent, WATCH_SECONDS)
    finally:
        # SIGTERM with dozens of polls in flight (dead targets waiting out their connect timeouts)
        agent.proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = agent.proc.wait(timeout=60)
        stop_seconds = time.monotonic() - stopping
    log = agent.log.read_text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:3000]
    assert stop_seconds < 15, stop_seconds
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # Ideal: one poll a second. Before the fix: 5 polls in 45 s, gaps of 10 s. The tolerance is for a
    # busy 2-core machine (the agent's own CPU competes with everything else running).
    assert len(stamps) >= WATCH_SECONDS * 0.8, (len(stamps), sorted(gaps)[-5:])
    assert max(gaps) < 3.5, sorted(gaps)[-5:]
