"""A private network made of Linux network namespaces, for unreachable and blackholed targets.

Fixture ``netlab`` (session) -> NetLab. Two namespaces joined by a veth pair, addresses from
198.18.0.0/15 (RFC 2544 benchmarking space) that exist only inside them: nothing is configured in
the machine's own namespace, so no packet can leave the machine.

    client ns  oa-<id>-c: veth 198.18.0.1/24, lo     <- the poll runs here (`ip netns exec`)
        198.18.2.0/24 via 198.18.0.2                 <- "route to nowhere": the peer does not forward
        unreachable 198.18.3.0/24                    <- a route that rejects at once
    peer ns    oa-<id>-p: veth 198.18.0.2/24, lo, sshd on 198.18.0.2  <- a healthy host
    198.18.0.77 is on the link but nobody answers its ARP.

The peer namespace has IP forwarding off (a new namespace's default), so it drops packets for
198.18.2.0/24 silently: the SYN is never answered, exactly what a firewall DROP rule does.
Needs root and iproute2 (`ip`): a missing `ip` fails the tests with the install hint.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.sshd import SshServer, start_sshd

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ADDRESS = "198.18.0.1"
PEER_ADDRESS = "198.18.0.2"
SILENT_NEIGHBOUR = "198.18.0.77"  # on-link, no host: ARP goes unanswered
BLACKHOLED = "198.18.2.10"  # routed to a peer that drops it
REJECTED = "198.18.3.10"  # an `unreachable` route: rejected at once


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass(frozen=True)
class NetLab:
    client_ns: str
    peer_ns: str
    sshd: SshServer  # listening on PEER_ADDRESS inside peer_ns

    def poll(self, targets: list[dict[str, Any]], timeout: float = 120) -> list[dict[str, Any]]:
        """Run ``tests.peers.netns_poll`` inside the client namespace; its results as dicts."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.client_ns, sys.executable, "-m", "tests.peers.netns_poll"],
            input=json.dumps(targets),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"poll in {self.client_ns} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        results: list[dict[str, Any]] = json.loads(proc.stdout)
        return results


def build(tag: str) -> tuple[str, str]:
    client, peer = f"oa-{tag}-c", f"oa-{tag}-p"
    ip("netns", "add", client)
    ip("netns", "add", peer)
    ip("link", "add", f"oa{tag}c", "netns", client, "type", "veth", "peer", "name", f"oa{tag}p", "netns", peer)
    for ns, dev, address in ((client, f"oa{tag}c", CLIENT_ADDRESS), (peer, f"oa{tag}p", PEER_ADDRESS)):
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", dev, "up")
    ip("-n", client, "route", "add", "198.18.2.0/24", "via", PEER_ADDRESS)
    ip("-n", client, "route", "add", "unreachable", "198.18.3.0/24")
    return client, peer


def teardown(*namespaces: str) -> None:
    for ns in namespaces:  # deleting a namespace deletes its veth end (and so the pair)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


@pytest.fixture(scope="session")
def netlab() -> Iterator[NetLab]:
    if shutil.which("ip") is None:
        pytest.fail("`ip` not found: install the Debian package `iproute2`", pytrace=False)
    tag = secrets.token_hex(3)
    client, peer = f"oa-{tag}-c", f"oa-{tag}-p"  # what build() makes: torn down even if it fails midway
    server: SshServer | None = None
    try:
        build(tag)
        server = start_sshd(host=PEER_ADDRESS, netns=peer)
        yield NetLab(client, peer, server)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.base_dir, ignore_errors=True)
        teardown(client, peer)
