"""The SSH collector against a real OpenSSH server on 127.0.0.1 (tests/peers/sshd.py).

The server runs on this very machine, so what the SSH collector reads must agree with what the
local collector reads here (within tolerance for values that change between the two reads).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors import options_models
from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.local import LocalCollector, LocalOptions
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.ssh import SshCollector
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller
from tests.peers.ports import free_port
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    models = options_models()
    return dict(load_profiles([ROOT], models)[("ssh", "linux")].options)


@pytest.fixture
def collector() -> Any:
    c = SshCollector(max_workers=16)
    yield c
    c.close()


def make_asset(server: SshServer, name: str = "box", port: int | None = None, **creds: str) -> Asset:
    ssh = {"user": server.user, "key_file": str(server.client_key), **creds}
    return Asset(name=name, address=server.host, port=port or server.port, credentials={"ssh": ssh})


def make_spec(server: SshServer, profile: dict[str, Any], timeout: float = 20, **options: Any) -> CollectorSpec:
    merged = {**profile, "known_hosts": [str(server.known_hosts)], **options}
    return CollectorSpec(name="ssh", options=merged, timeout=timeout)


def values(result: CollectResult, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {s.labels: s.value for s in result.samples if s.name == name}


def one(result: CollectResult, name: str, **labels: str) -> float:
    key = tuple(sorted(labels.items()))
    return values(result, name)[key]


async def test_ssh_agrees_with_local_collector(sshd_server: SshServer, profile: dict[str, Any], collector: Any) -> None:
    local = LocalCollector().collect_sync("here", LocalOptions())
    remote = await collector.collect(make_asset(sshd_server), make_spec(sshd_server, profile), {})
    assert remote.ok, remote.message
    # Facts: identical for what does not change.
    for key in ("hostname", "kernel", "os", "arch", "memory", "ip_addresses", "boot_time"):
        assert remote.facts[key] == local.facts[key], key
    assert remote.facts["cpu"]["count"] == local.facts["cpu"]["count"]
    assert remote.facts["cpu"]["model"] == local.facts["cpu"]["model"]
    assert remote.facts["disks"] and all("size" in d for d in remote.facts["disks"].values())
    # Same series (name + labels) for every family both collectors emit.
    for name in (
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_disk_read_bytes_total",
        "node_disk_io_time_seconds_total",
        "node_network_receive_bytes_total",
        "node_network_transmit_packets_total",
        "node_uname_info",
        "node_os_info",
        "node_boot_time_seconds",
        "node_network_up",
        "node_network_mtu_bytes",
    ):
        assert set(values(remote, name)) == set(values(local, name)), name
    # Both read operstate (node_exporter's meaning): lo is "unknown", so 0 from both.
    assert values(remote, "node_network_up") == values(local, "node_network_up")
    assert values(remote, "node_network_mtu_bytes") == values(local, "node_network_mtu_bytes")
    assert one(local, "node_network_up", device="lo") == 0
    # Equal values where nothing moves; counters only grow, and by little, between the reads.
    assert values(remote, "node_memory_MemTotal_bytes") == values(local, "node_memory_MemTotal_bytes")
    assert values(remote, "node_filesystem_size_bytes") == values(local, "node_filesystem_size_bytes")
    assert one(remote, "node_boot_time_seconds") == pytest.approx(one(local, "node_boot_time_seconds"), abs=1)
    for labels, seconds in values(local, "node_cpu_seconds_total").items():
        assert seconds - 0.01 <= values(remote, "node_cpu_seconds_total")[labels] <= seconds + 30, labels
    for name in ("node_disk_reads_completed_total", "node_network_receive_packets_total"):
        for labels, count in values(local, name).items():
            assert count <= values(remote, name)[labels] <= count + 100_000, (name, labels)
    # Load and process counts move between the two reads, the more so on a busy machine.
    load = one(local, "node_load1")
    assert one(remote, "node_load1") == pytest.approx(load, abs=max(2.0, load * 0.25))
    pids = one(local, "node_processes_pids")
    assert one(remote, "node_processes_pids") == pytest.approx(pids, abs=max(50, pids * 0.5))
    assert one(remote, "node_time_seconds") == pytest.approx(time.time(), abs=30)
    for labels, avail in values(local, "node_filesystem_avail_bytes").items():
        assert values(remote, "node_filesystem_avail_bytes")[labels] == pytest.approx(avail, rel=0.01), labels
    assert all(v == 1 for v in values(remote, "opsagent_ssh_check_success").values())


async def test_connection_is_reused_across_polls(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any
) -> None:
    asset, spec = make_asset(sshd_server), make_spec(sshd_server, profile)
    first = await collector.collect(asset, spec, {})
    second = await collector.collect(asset, spec, {})
    assert first.ok and second.ok
    assert one(first, "opsagent_ssh_connection_reused") == 0
    assert one(second, "opsagent_ssh_connection_reused") == 1
    assert collector.pool.open_count() == 1
    # A dropped connection is reopened on the next poll, which still succeeds.
    collector.pool._entries["box"].conn.client.get_transport().close()
    third = await collector.collect(asset, spec, {})
    assert third.ok and one(third, "opsagent_ssh_connection_reused") == 0


async def test_password_auth_from_a_file_reference(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any
) -> None:
    asset = Asset(
        name="pw",
        address=sshd_server.host,
        port=sshd_server.port,
        credentials={"ssh": {"user": sshd_server.user, "password": f"file:{sshd_server.password_file}"}},
    )
    result = await collector.collect(asset, make_spec(sshd_server, profile), {})
    assert result.ok, result.message


async def test_key_text_from_an_env_reference(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_TEST_SSH_KEY", sshd_server.client_key.read_text())
    asset = Asset(
        name="envkey",
        address=sshd_server.host,
        port=sshd_server.port,
        credentials={"ssh": {"user": sshd_server.user, "private_key": "env:OPSAGENT_TEST_SSH_KEY"}},
    )
    result = await collector.collect(asset, make_spec(sshd_server, profile), {})
    assert result.ok, result.message


async def test_jump_host(sshd_server: SshServer, profile: dict[str, Any], collector: Any) -> None:
    # Through the same sshd as bastion (direct-tcpip to itself): the ProxyJump path end to end.
    jump = {"host": sshd_server.host, "port": sshd_server.port}
    result = await collector.collect(make_asset(sshd_server), make_spec(sshd_server, profile, jump_host=jump), {})
    assert result.ok, result.message
    assert len(collector.pool._gateways) == 1


async def test_unknown_host_key_refused_unless_accepted(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = await collector.collect(
        make_asset(sshd_server, "u1"), make_spec(sshd_server, profile, known_hosts=[str(empty)]), {}
    )
    assert (refused.outcome, refused.reason) == (Outcome.FAILED, "hostkey_unknown"), refused.message
    pins = tmp_path / "accepted_known_hosts"  # of this test alone: other tests must not find the key known
    accepted = await collector.collect(
        make_asset(sshd_server, "u2"),
        make_spec(
            sshd_server,
            profile,
            known_hosts=[str(empty)],
            accept_unknown_host_key=True,
            accepted_host_keys_file=str(pins),
        ),
        {},
    )
    assert accepted.ok, accepted.message
    assert empty.read_text() == ""  # accepting never writes the known_hosts files given
    assert pins.read_text().count("\n") == 1  # but records the key in opsagent's own


async def test_failures_are_results_and_other_hosts_finish_on_time(
    sshd_server: SshServer, profile: dict[str, Any], silent_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong key, wrong host key, closed port, a silent server, a hanging command and garbage output,
    polled together with healthy hosts: each gets its reason within its timeout, the healthy ones
    finish in well under a second each, and the errors counter carries the reasons."""
    caplog.set_level(logging.DEBUG)
    server = sshd_server
    hang = [{"name": "meminfo", "command": "sleep 60", "parser": "meminfo"}]
    garbage = [{"name": "meminfo", "command": "echo this is not meminfo", "parser": "meminfo"}]
    cases: list[tuple[Asset, CollectorSpec, str, Outcome]] = [
        (
            make_asset(server, "wrong-key", key_file=str(server.other_key)),
            make_spec(server, profile),
            "auth",
            Outcome.FAILED,
        ),
        (
            make_asset(server, "missing-secret", key_file="", password=f"env:OPSAGENT_NO_SUCH_{free_port()}"),
            make_spec(server, profile),
            "credentials",
            Outcome.FAILED,
        ),
        (
            make_asset(server, "wrong-hostkey"),
            make_spec(server, profile, known_hosts=[str(server.wrong_known_hosts)]),
            "hostkey_mismatch",
            Outcome.FAILED,
        ),
        (make_asset(server, "closed", port=free_port()), make_spec(server, profile), "refused", Outcome.UNREACHABLE),
        (
            make_asset(server, "silent", port=silent_port),
            make_spec(server, profile, connect_timeout=2),
            "timeout",
            Outcome.TIMEOUT,
        ),
        (
            make_asset(server, "hanging"),
            make_spec(server, profile, checks=hang, command_timeout=2),
            "timeout",
            Outcome.TIMEOUT,
        ),
        (make_asset(server, "garbage"), make_spec(server, profile, checks=garbage), "parse", Outcome.FAILED),
    ]
    healthy = [(make_asset(server, f"ok{i}"), make_spec(server, profile)) for i in range(4)]
    collector = SshCollector(max_workers=16)
    metrics = MetricsRegistry()
    poller = Poller({"ssh": collector}, {}, metrics)
    try:
        started = time.monotonic()
        results = await poller.poll_many([(a, s, {}) for a, s, *_ in cases] + [(a, s, {}) for a, s in healthy])
        elapsed = time.monotonic() - started
    finally:
        collector.close()
    by_name = {r.asset: r for r in results}
    for asset, _spec, reason, outcome in cases:
        got = by_name[asset.name]
        assert (got.reason, got.outcome) == (reason, outcome), (asset.name, got.reason, got.message)
        assert got.message
    for asset, _spec in healthy:
        assert by_name[asset.name].ok, by_name[asset.name].message
        assert by_name[asset.name].duration < 10
    assert by_name["silent"].duration < 6 and by_name["hanging"].duration < 6
    assert elapsed < 15
    errors = {
        (s.labels["asset"], s.labels["reason"]): s.value
        for m in metrics.collect_self()
        if m.name == "opsagent_collect_errors"
        for s in m.samples
    }
    for asset, _spec, reason, _outcome in cases:
        assert errors[(asset.name, reason)] == 1
    ups = {s.labels["asset"]: s.value for m in metrics.collect_self() if m.name == "opsagent_up" for s in m.samples}
    assert ups["wrong-key"] == 0 and ups["ok0"] == 1
    # The password and key never reach results, logs or /metrics.
    secret = server.password_file.read_text().strip()
    key_text = server.client_key.read_text()
    exposed = [r.message for r in results] + [caplog.text, metrics.render_collected(False)]
    assert not any(secret in text or key_text[40:80] in text for text in exposed)


async def test_wrong_password_is_an_auth_failure_and_never_shown(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_TEST_BAD_PW", "not-the-password-4711")
    asset = Asset(
        name="badpw",
        address=sshd_server.host,
        port=sshd_server.port,
        credentials={"ssh": {"user": sshd_server.user, "password": "env:OPSAGENT_TEST_BAD_PW"}},
    )
    result = await collector.collect(asset, make_spec(sshd_server, profile), {})
    assert result.reason == "auth"
    assert "not-the-password-4711" not in result.message


async def test_optional_check_failure_keeps_the_poll_ok(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any
) -> None:
    checks = [*profile["checks"], {"name": "extra", "command": "exit 3", "parser": "dmi", "required": False}]
    result = await collector.collect(make_asset(sshd_server), make_spec(sshd_server, profile, checks=checks), {})
    assert result.ok
    assert one(result, "opsagent_ssh_check_success", check="extra") == 0
    assert "extra" in result.message


def test_samples_are_hashable_and_named_like_node_exporter(sshd_server: SshServer, profile: dict[str, Any]) -> None:
    collector = SshCollector()
    try:
        result = asyncio.run(collector.collect(make_asset(sshd_server), make_spec(sshd_server, profile), {}))
    finally:
        collector.close()
    assert all(isinstance(s, Sample) for s in result.samples)
    names = {s.name for s in result.samples}
    assert all(n.startswith(("node_", "opsagent_ssh_")) for n in names)
    assert all(s.name.endswith("_total") for s in result.samples if s.kind == "counter")


async def test_idle_connections_do_not_busy_wake_and_close_promptly(
    sshd_server: SshServer, profile: dict[str, Any]
) -> None:
    """paramiko's reader thread polls its socket every 0.1 s by default; ours sleeps one keepalive
    interval once logged in (a minute without keepalives), and still ends at once when the
    connection is closed (well before its sleep would end)."""
    import threading

    import paramiko

    collector = SshCollector(max_workers=4)
    before = set(threading.enumerate())  # objects, not idents: a dead thread's ident is reused at once
    try:
        spec = make_spec(sshd_server, profile, keepalive=45)
        result = await collector.collect(make_asset(sshd_server, "idle"), spec, {})
        assert result.ok, result.message
        transport = collector.pool._entries["idle"].conn.client.get_transport()
        assert transport.sock.gettimeout() == 45
        spec_off = make_spec(sshd_server, profile, keepalive=0)
        result = await collector.collect(make_asset(sshd_server, "idle-nokeepalive"), spec_off, {})
        assert result.ok, result.message
        transport = collector.pool._entries["idle-nokeepalive"].conn.client.get_transport()
        assert transport.sock.gettimeout() == 60
        readers = [t for t in threading.enumerate() if t not in before and isinstance(t, paramiko.Transport)]
        assert len(readers) >= 2
    finally:
        collector.close()
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in readers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(t.is_alive() for t in readers)


async def test_idle_connection_still_sends_keepalives(sshd_server: SshServer, profile: dict[str, Any]) -> None:
    """The reader thread sleeping one keepalive interval still sends every keepalive when due."""
    collector = SshCollector(max_workers=2)
    try:
        spec = make_spec(sshd_server, profile, keepalive=1)
        result = await collector.collect(make_asset(sshd_server, "keepalive"), spec, {})
        assert result.ok, result.message
        packetizer = collector.pool._entries["keepalive"].conn.client.get_transport().packetizer
        sent = packetizer._Packetizer__sent_packets  # paramiko keeps no public packet counter
        await asyncio.sleep(3.6)
        assert packetizer._Packetizer__sent_packets - sent >= 2
    finally:
        collector.close()


async def test_a_polled_connection_keeps_quiet_between_polls_unless_told(
    sshd_server: SshServer, profile: dict[str, Any]
) -> None:
    """Unset, the keepalive follows the poll interval (1.5 intervals within [30 s, 5 min]): a 30 s
    keepalive sent a packet each way between every two polls a minute apart. Set, it is the option."""
    collector = SshCollector(max_workers=2)
    try:
        for name, interval, options, expected in (
            ("minute", 60, {}, 90),
            ("ten-minutes", 600, {}, 300),
            ("fast", 5, {}, 30),
            ("told", 60, {"keepalive": "20s"}, 20),
        ):
            merged = {**profile, "known_hosts": [str(sshd_server.known_hosts)], **options}
            spec = CollectorSpec(name="ssh", options=merged, timeout=20, interval=interval)
            result = await collector.collect(make_asset(sshd_server, name), spec, {})
            assert result.ok, result.message
            transport = collector.pool._entries[name].conn.client.get_transport()
            assert transport.sock.gettimeout() == expected, name
            assert transport.packetizer._Packetizer__keepalive_interval == expected, name
    finally:
        collector.close()


async def test_durations_written_with_units_poll_a_real_server(
    sshd_server: SshServer, profile: dict[str, Any], collector: Any
) -> None:
    """Issue 20 item 14: ``connect_timeout: 1s`` passed `check`, then every poll failed."""
    spec = make_spec(
        sshd_server, profile, connect_timeout="1s", command_timeout="30s", keepalive="2m", idle_close="10m"
    )
    result = await collector.collect(make_asset(sshd_server), spec, {})
    assert result.ok, result.message
    assert result.facts["hostname"]


async def test_one_host_one_set_of_families(sshd_server: SshServer, profile: dict[str, Any], collector: Any) -> None:
    """This host polled by the local collector and by the SSH collector (over the real sshd to
    127.0.0.1): the same node_* families with the same label names, as one node_exporter would
    give, and the same series for the disk, network and CPU families (guest time, discards,
    flushes, io_now, weighted io time, fifo/frame/carrier/... counters included)."""
    local = LocalCollector().collect_sync("here", LocalOptions())
    remote = await collector.collect(make_asset(sshd_server), make_spec(sshd_server, profile), {})
    assert remote.ok, remote.message

    def families(result: CollectResult) -> dict[str, set[tuple[str, ...]]]:
        out: dict[str, set[tuple[str, ...]]] = {}
        for s in result.samples:
            if s.name.startswith("node_"):
                out.setdefault(s.name, set()).add(tuple(k for k, _ in s.labels))
        return out

    assert families(remote) == families(local)
    for name in (
        "node_cpu_guest_seconds_total",
        "node_disk_io_time_weighted_seconds_total",
        "node_disk_io_now",
        "node_disk_discards_completed_total",
        "node_disk_flush_requests_total",
        "node_network_receive_fifo_total",
        "node_network_transmit_carrier_total",
        "node_network_speed_bytes",
    ):
        assert set(values(remote, name)) == set(values(local, name)), name
    assert {s.kind for s in local.samples if s.name == "node_disk_io_now"} <= {"gauge"}
