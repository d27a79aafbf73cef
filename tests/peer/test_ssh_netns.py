"""Unreachable and blackholed SSH targets, in a private network of namespaces (tests/peers/netns.py):
each gets its reason within its connect timeout while healthy hosts of the same poll finish on time.

Timing: the kernel gives up on an unanswered ARP after about 3 s (3 probes, 1 s apart), answering
connect() with EHOSTUNREACH: `unreachable` when the connect timeout is longer than that, `timeout`
when it is shorter. A silently dropped SYN (blackhole) is always `timeout` at the connect timeout.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.peers.netns import BLACKHOLED, PEER_ADDRESS, REJECTED, SILENT_NEIGHBOUR, NetLab

pytestmark = pytest.mark.peer
SLACK = 4.0


def target(lab: NetLab, name: str, address: str, connect_timeout: float, timeout: float = 20) -> dict[str, Any]:
    server = lab.sshd
    return {
        "name": name,
        "address": address,
        "port": server.port,
        "user": server.user,
        "key_file": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "timeout": timeout,
        "options": {"connect_timeout": connect_timeout, "command_timeout": 15},
    }


def test_unreachable_and_blackholed_hosts_fail_on_time_beside_healthy_ones(netlab: NetLab) -> None:
    # Upper bounds leave SLACK s for a loaded machine (the suite shares 2 cores): a failure to time
    # out would show as the 20 s poll timeout instead.
    cases = {
        # name: (address, connect timeout, outcome, reason, at least, at most seconds)
        "no-arp-long": (SILENT_NEIGHBOUR, 8.0, "unreachable", "unreachable", 2.0, 3.5 + SLACK),
        "no-arp-short": (SILENT_NEIGHBOUR, 1.5, "timeout", "timeout", 1.3, 1.5 + SLACK),
        "blackholed": (BLACKHOLED, 2.0, "timeout", "timeout", 1.8, 2.0 + SLACK),
        "blackholed-long": (BLACKHOLED, 5.0, "timeout", "timeout", 4.8, 5.0 + SLACK),
        "rejected-route": (REJECTED, 5.0, "unreachable", "unreachable", 0.0, 0.5 + SLACK),
    }
    healthy = [f"ok{i}" for i in range(3)]
    targets = [target(netlab, name, addr, timeout) for name, (addr, timeout, *_r) in cases.items()]
    targets += [target(netlab, name, PEER_ADDRESS, 5.0) for name in healthy]
    results = {r["asset"]: r for r in netlab.poll(targets)}
    for name, (_addr, _timeout, outcome, reason, low, high) in cases.items():
        got = results[name]
        assert (got["outcome"], got["reason"]) == (outcome, reason), (name, got)
        assert low <= got["duration"] <= high, (name, got["duration"], got["message"])
        assert got["error_metric"] == reason, name
        assert got["message"], name
    assert "timed out after 2s" in results["blackholed"]["message"]
    assert "unreachable" in results["no-arp-long"]["message"]
    for name in healthy:
        assert results[name]["outcome"] == "ok", results[name]
        assert results[name]["samples"] > 50
        # Healthy hosts are not held up by the dead ones polled at the same time.
        assert results[name]["duration"] < 2.0 + SLACK, results[name]
    elapsed = next(iter(results.values()))["elapsed"]
    assert elapsed < 5.0 + SLACK  # the slowest case (5 s connect timeout) bounds the whole poll


def test_network_lab_is_private(netlab: NetLab) -> None:
    """None of the lab's addresses exist in the machine's own namespace."""
    import subprocess

    own = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True, timeout=30).stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True, timeout=30).stdout
    assert "198.18." not in own and "198.18." not in routes
