"""SSH collection at fleet scale: N assets on local sshd instances, polled repeatedly with
persistent connections, beside a new connection per poll (paramiko) and beside OpenSSH's own
client reconnecting for every poll (what Rundeck/Ansible-style tools do), in the same run.

Modes: persistent = one connection and one remote shell per asset, opened in an untimed warm-up,
then every poll is one request line on it; new connection per poll = for every poll a new TCP
connection, key exchange, host-key check, public-key auth (a signature with the client key; the
collector keeps keys it has parsed), shell start and the poll, then close (what Rundeck does per
node). The reconnecting mode runs with an ed25519 client key (the cheapest signature) and with an
RSA 3072 one (`ssh-keygen`'s default up to OpenSSH 9.4: Debian 12, RHEL 8/9). Every mode runs through the real
Poller, so CPU includes parsing, the metrics registry and one /metrics rendering per round (as a
Prometheus scraping once per poll interval costs). Persistent connections also cost CPU between
polls (their reader threads wake for keepalives): that is measured on the idle connections after
the rounds and charged per poll interval (--interval), beside the back-to-back figure.

Goals: >= 10x less client CPU per poll than reconnecting; 1,000 host polls within one 60 s
interval on 2 cores (Rundeck's published figure: 1,000 nodes in ~52 s on 8 cores, reconnecting).

    .venv/bin/python bench/bench_ssh.py [--assets 200] [--rounds 5] [--servers 2]

Needs root (it starts sshd and creates the test user, as the test suite does). Prints figures;
asserts nothing. CPU is this process's user+system time (the collector side); sshd's own CPU is
printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsagent.collectors import options_models
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.ssh import SshCollector
from opsagent.collectors.ssh.batch import build_script
from opsagent.collectors.ssh.options import SshOptions
from opsagent.gctune import tune_for_polling
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import Exposition, MetricsRegistry
from opsagent.poller import Poller
from tests.peers.sshd import SshServer, start_sshd

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def threads_cpu() -> float:
    """CPU seconds of this process's live threads, from the scheduler's own nanosecond account:
    os.times() is sampled at clock ticks, and misses threads that wake for microseconds."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime+stime+cutime+cstime seconds) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def sshd_cpu(servers: list[SshServer]) -> float:
    """CPU of the sshd listeners and all their descendants (live connection processes and the
    reaped ones, through cutime/cstime), in seconds."""
    stats = {int(p.name): _stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    roots = {s.daemon.proc.pid for s in servers}
    total = 0.0
    for pid, st in stats.items():
        if st is None:
            continue
        node: int | None = pid
        while node is not None and node not in roots and node > 1:
            parent = stats.get(node)
            node = parent[0] if parent else None
        if node in roots:
            total += st[1]
    return total


def client_key(server: SshServer, key_type: str) -> Path:
    """The client key of ``key_type``: the fixture's ed25519 key, or an RSA key made and authorized
    here (RSA 3072 is what `ssh-keygen` makes by default up to OpenSSH 9.4, so Debian 12's and
    RHEL 8/9's; signing with it makes every new connection dearer than ed25519)."""
    if key_type == "ed25519":
        return server.client_key
    bits = key_type.removeprefix("rsa") or "3072"
    path = server.base_dir / f"client_rsa{bits}"
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", bits, "-N", "", "-f", str(path)], check=True)
        with (server.base_dir / "authorized_keys" / server.user).open("a") as keys:
            keys.write(path.with_suffix(".pub").read_text())
    return path


def targets(
    servers: list[SshServer], n: int, persistent: bool, profile: dict[str, Any], key_type: str = "ed25519"
) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        server = servers[i % len(servers)]
        asset = Asset(
            name=f"host{i:04d}",
            address=server.host,
            port=server.port,
            credentials={"ssh": {"user": server.user, "key_file": str(client_key(server, key_type))}},
        )
        options = {**profile, "known_hosts": [str(s.known_hosts) for s in servers], "persistent": persistent}
        out.append((asset, CollectorSpec(name="ssh", options=options, interval=60, timeout=55), {}))
    return out


async def run_collector(
    servers: list[SshServer],
    n: int,
    rounds: int,
    persistent: bool,
    profile: dict[str, Any],
    key_type: str = "ed25519",
    idle_seconds: float = 0.0,
) -> dict[str, float]:
    collector = SshCollector(max_workers=64)
    registry = MetricsRegistry()
    exposition = Exposition(registry, process=False)
    poller = Poller({"ssh": collector}, {}, registry, max_concurrency=256)
    batch = targets(servers, n, persistent, profile, key_type)
    try:
        if persistent:  # connections opened once, as in steady state; the warm-up is not timed
            warm = await poller.poll_many(batch)
            assert all(r.ok for r in warm), [r.message for r in warm if not r.ok][:3]
        cpu0, sshd0, wall0 = cpu(), sshd_cpu(servers), time.perf_counter()
        failed = 0
        for _ in range(rounds):
            results = await poller.poll_many(batch)
            failed += sum(not r.ok for r in results)
            exposition.render(None)  # Prometheus scrapes every poll's values once: rendering counts
        wall = time.perf_counter() - wall0
        polls = n * rounds
        figures = {
            "polls": polls,
            "failed": failed,
            "wall": wall,
            "rate": polls / wall,
            "cpu_per_poll": (cpu() - cpu0) / polls,
            "sshd_cpu_per_poll": (sshd_cpu(servers) - sshd0) / polls,
        }
        if persistent and idle_seconds > 0:
            # Between polls the connections stay open: their reader threads' wake-ups (and
            # keepalives) are CPU that back-to-back rounds hide. Per connection per second.
            idle0 = threads_cpu()
            await asyncio.sleep(idle_seconds)
            figures["idle_cpu_per_conn_s"] = (threads_cpu() - idle0) / idle_seconds / n
        return figures
    finally:
        collector.close()


def run_openssh(servers: list[SshServer], n: int, profile: dict[str, Any], workers: int = 32) -> dict[str, float]:
    """OpenSSH's client, one new connection per poll, the same batch script on stdin."""
    script = build_script(SshOptions.model_validate(profile).checks).encode()

    def one(i: int) -> bool:
        server = servers[i % len(servers)]
        argv = ["ssh", "-T", "-i", str(server.client_key), "-p", str(server.port), "-o", "BatchMode=yes"]
        argv += ["-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
        argv += [f"{server.user}@{server.host}", "sh"]
        res = subprocess.run(argv, input=script, capture_output=True, timeout=60, check=False)
        return res.returncode == 0

    def children_cpu() -> float:
        r = os.times()
        return r.children_user + r.children_system

    cpu0, sshd0, wall0 = children_cpu(), sshd_cpu(servers), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(one, range(n)))
    wall = time.perf_counter() - wall0
    return {
        "polls": n,
        "failed": ok.count(False),
        "wall": wall,
        "rate": n / wall,
        "cpu_per_poll": (children_cpu() - cpu0) / n,
        "sshd_cpu_per_poll": (sshd_cpu(servers) - sshd0) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="polls of every asset (persistent mode)")
    parser.add_argument("--reconnect-polls", type=int, default=200, help="polls in the reconnecting modes")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval the idle cost is charged for")
    parser.add_argument(
        "--idle-seconds", type=float, default=20.0, help="how long the idle persistent connections are measured"
    )
    parser.add_argument(
        "--key-types",
        default="ed25519,rsa3072",
        help="client keys of the reconnecting mode (a persistent poll never signs: one key type suffices)",
    )
    args = parser.parse_args()
    key_types = args.key_types.split(",")
    profile = dict(load_profiles([ROOT], options_models())[("ssh", "linux")].options)
    tune_for_polling()  # as `opsagent serve` does
    servers = [start_sshd() for _ in range(args.servers)]
    try:
        persistent = asyncio.run(
            run_collector(servers, args.assets, args.rounds, True, profile, idle_seconds=args.idle_seconds)
        )
        reconnects = {
            kt: asyncio.run(run_collector(servers, args.reconnect_polls, 1, False, profile, kt)) for kt in key_types
        }
        openssh = run_openssh(servers, args.reconnect_polls, profile)
    finally:
        for server in servers:
            server.stop()
    print(
        f"ssh collector, {args.assets} assets on {args.servers} local sshd, profile linux "
        f"({len(profile['checks'])} checks), {os.cpu_count()} cores"
    )
    print(
        f"{'mode':44} {'polls':>6} {'failed':>6} {'wall s':>8} {'polls/s':>8} "
        f"{'CPU ms/poll':>12} {'sshd CPU ms/poll':>17}"
    )
    rows = [
        ("opsagent, persistent connections", persistent),
        *((f"opsagent, new connection per poll, {kt} key", r) for kt, r in reconnects.items()),
        ("OpenSSH ssh client, new connection per poll", openssh),
    ]
    for name, r in rows:
        print(
            f"{name:44} {r['polls']:>6.0f} {r['failed']:>6.0f} {r['wall']:>8.2f} {r['rate']:>8.1f} "
            f"{r['cpu_per_poll'] * 1000:>12.2f} {r['sshd_cpu_per_poll'] * 1000:>17.2f}"
        )
    idle = persistent.get("idle_cpu_per_conn_s", 0.0) * args.interval
    at_interval = persistent["cpu_per_poll"] + idle
    print(
        f"idle persistent connections: {idle * 1000:.2f} ms CPU per connection per {args.interval:g} s interval; "
        f"persistent CPU per poll at that interval (poll + idle): {at_interval * 1000:.2f} ms"
    )
    for kt, reconnect in reconnects.items():
        ratio = reconnect["cpu_per_poll"] / persistent["cpu_per_poll"]
        ratio_interval = reconnect["cpu_per_poll"] / at_interval
        both = (reconnect["cpu_per_poll"] + reconnect["sshd_cpu_per_poll"]) / (
            persistent["cpu_per_poll"] + persistent["sshd_cpu_per_poll"]
        )
        print(
            f"CPU per poll, reconnecting ({kt} key) / persistent: collector {ratio:.1f}x back to back, "
            f"{ratio_interval:.1f}x with idle time; collector+sshd {both:.1f}x  (goal >= 10x)"
        )
    per_1000 = 1000 / persistent["rate"]
    print(
        f"1,000 host polls, persistent: {per_1000:.1f} s  (goal <= 60 s on 2 cores; "
        "Rundeck: 1,000 nodes in ~52 s on 8 cores, reconnecting)"
    )


if __name__ == "__main__":
    main()
