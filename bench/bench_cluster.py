"""Agents sharing one PostgreSQL, measured at the issue's scale: N real ``opsagent serve`` processes
(default 10) polling M small SNMP devices (default 10,000), beside today's naive setup in the same run:
two serves on one store with clustering off.

The devices: a private network namespace with ``lo`` and one veth pair (three interfaces), and net-snmp's
``snmpd`` (C) answering on M UDP ports of 127.0.0.1 inside it (one process per 1,250 ports), so every
device is a separate SNMP agent address. Each is polled with a light profile (``bench_light``: sysUpTime
and sysName, and ifOperStatus/ifInOctets/ifOutOctets of its 3-row ifTable: 2 scalars, 9 table cells).
PostgreSQL and the agents run in the namespace too; nothing is configured outside it. Agents poll in
their own process (``collector_settings: {snmp: {workers: 0}}``: ten agents are parallel enough) and
keep their default heartbeat (2 s) and lease (6 s).

Counted from the agents' own records (each poll an agent starts is a line of its log: target, slot, start):
polls per target per interval; *duplicates* = the same target polled by two different agents for the
same slot (both started within one interval of the phase point it was due at); *close pairs* = two polls
of one target starting less than half an interval apart, by two agents or by one. After ``kill -9`` of
one agent: the takeover (from the kill until every target it polled was polled again by a survivor, in
intervals; goal < 2). Store load: PostgreSQL commits/s and rows written/s (inserted + updated + deleted),
divided by the agents, and each agent's membership writes. CPU: agents, snmpd, PostgreSQL, per interval,
and the load average.

The naive pair polls ``--naive-devices`` of the devices (default: one cluster agent's share, so each of
its agents carries what a cluster agent does): every poll twice, and a kill changes nothing.

Budget on the shared 2-core VM, computed from a small run first (3 × 600 at 30 s: 2.4–3.2 ms of agent CPU
and ~0.8 ms of snmpd per light poll): 10,000 devices every 60 s ≈ 10,000 × 4 ms / 60 s ≈ 0.7 core, under
the ~1.2 cores left beside the other work; hence the default 60 s. Measured at full scale: 2.0 ms + 1.2 ms
per poll, ≈ 0.55 core with PostgreSQL. Run: ``.venv/bin/python bench/bench_cluster.py [--agents 10] [--devices 10000]
[--interval 60] [--naive-devices N]`` (root: it makes a network namespace). Asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import psycopg  # noqa: E402

from bench.bench_snmp import proc_cpu, tree_cpu  # noqa: E402
from tests.cluster.rig import Cluster, Poll, Targets, duplicates  # noqa: E402
from tests.e2e.agent import wait_until  # noqa: E402
from tests.peers.postgres import PostgresServer, start_postgres  # noqa: E402

COMMUNITY = "bench-cluster"
PORTS_FROM = 20000
PORTS_PER_SNMPD = 1250
PROFILE = """description: 'bench: sysUpTime, sysName and three ifTable columns'
options:
  metrics:
  - {name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge}
  - {name: sysName, oid: 1.3.6.1.2.1.1.5, type: DisplayString}
  - {name: ifOperStatus, oid: 1.3.6.1.2.1.2.2.1.8, type: gauge, indexes: [{labelname: ifIndex, type: gauge}]}
  - {name: ifInOctets, oid: 1.3.6.1.2.1.2.2.1.10, type: counter, indexes: [{labelname: ifIndex, type: gauge}]}
  - {name: ifOutOctets, oid: 1.3.6.1.2.1.2.2.1.16, type: counter, indexes: [{labelname: ifIndex, type: gauge}]}
"""


def say(text: str) -> None:
    print(text, flush=True)


def sh(*argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=120, **kw)


def uptime() -> str:
    return sh("uptime").stdout.strip()


# -- outside: the namespace ---------------------------------------------------------------------------
def outer(argv: list[str]) -> None:
    ns = f"oa-cluster-{secrets.token_hex(3)}"
    sh("ip", "netns", "add", ns)
    try:
        batch = "link set lo up\nlink add eth0 type veth peer name eth1\nlink set eth0 up\nlink set eth1 up\n"
        sh("ip", "-n", ns, "-batch", "-", input=batch)
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, __file__, "--inner", *argv], check=True, cwd=ROOT)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=60)


# -- inside: devices, store, agents -------------------------------------------------------------------
def start_devices(base: Path, ports: list[int]) -> list[subprocess.Popen[bytes]]:
    env = {"MIBS": "", "PATH": "/usr/sbin:/usr/bin:/bin", "SNMP_PERSISTENT_DIR": str(base / "persist")}
    procs = []
    for k in range(math.ceil(len(ports) / PORTS_PER_SNMPD)):
        mine = ports[k * PORTS_PER_SNMPD : (k + 1) * PORTS_PER_SNMPD]
        conf = base / f"snmpd{k}.conf"
        conf.write_text(f"rocommunity {COMMUNITY} 127.0.0.1\nsysName bench-{k}\n")
        argv = ["snmpd", "-f", "-C", "-c", str(conf), "-I", "-smux,mteTrigger,mteTriggerConf"]
        argv += ["-Lf", str(base / f"snmpd{k}.log"), "-p", str(base / f"snmpd{k}.pid")]
        argv.append(",".join(f"udp:127.0.0.1:{p}" for p in mine))
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for port in (ports[0], ports[-1]):
        get = ["snmpget", "-v2c", "-c", COMMUNITY, "-t", "1", "-r", "0", f"127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"]
        wait_until(lambda g=get: subprocess.run(g, env={**os.environ, "MIBS": ""}, capture_output=True).returncode == 0,
                   60, f"snmpd on {port}")  # fmt: skip
    return procs


def assets(ports: list[int], interval: float) -> list[dict[str, Any]]:
    return [
        {
            "name": f"dev{i:05d}",
            "kind": "network",
            "address": "127.0.0.1",
            "port": port,
            "credentials": {"snmp": {"community": "env:BENCH_CLUSTER_COMMUNITY"}},
            "collectors": [
                {"name": "snmp", "profile": "bench_light", "interval": f"{interval:g}s", "options": {"identify": False}}
            ],
        }
        for i, port in enumerate(ports)
    ]


def pg_counters(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def cpu_of(rig: Cluster) -> float:
    return sum(tree_cpu(a.proc.pid) for a in rig.agents if a.proc is not None and a.proc.poll() is None)


class Run:
    """One setup (the cluster, or the naive pair) on its own database, measured."""

    def __init__(self, label: str, base: Path, server: PostgresServer, args: argparse.Namespace, snmpd: list[int]):
        self.label, self.args, self.server, self.snmpd = label, args, server, snmpd
        server.create_database(f"bench_{label}")
        self.dsn = server.dsn(f"bench_{label}")
        self.rig = Cluster(base / label, server.url(f"bench_{label}"), Targets())
        self.rig.interval, self.rig.heartbeat, self.rig.lease = args.interval, None, None  # the defaults
        (self.rig.content / "collectors" / "snmp").mkdir(parents=True)
        (self.rig.content / "collectors" / "snmp" / "bench_light.yaml").write_text(PROFILE)

    def polls(self, since: float, until: float = math.inf) -> list[Poll]:
        return [p for a in self.rig.agents for p in a.polls(since) if p.started < until]

    def start(self, ports: list[int], agents: int, clustered: bool) -> None:
        self.rig.seed(assets(ports, self.args.interval))
        settings = {"collector_settings": {"snmp": {"workers": 0}}, "max_concurrent_polls": 256}
        for k in range(agents):
            self.rig.start(self.rig.add(f"{self.label}{k + 1}", cluster={"enabled": clustered}, **settings))
        if clustered:
            live = lambda: sum(m["targets"] for m in self.rig.members() if m["live"])  # noqa: E731
            wait_until(lambda: live() == len(ports), 300, "shards settled")
        first, deadline = time.time(), time.time() + 3 * self.args.interval + 300
        while len({p.target for p in self.polls(first)}) < len(ports):  # (the logs are read every 10 s: big)
            if time.time() > deadline:
                raise RuntimeError(f"not every device was polled: {self.rig.agents[0].log}")
            time.sleep(10)

    def measure(self, devices: int, rounds: int) -> None:
        interval = self.args.interval
        time.sleep(interval / 2)
        load0, t0 = uptime(), time.time()
        pg0, cpu0, snmpd0 = pg_counters(self.dsn), cpu_of(self.rig), sum(proc_cpu(p) for p in self.snmpd)
        pgcpu0 = tree_cpu(self.server.daemon.proc.pid)
        writes0 = self.writes()
        time.sleep(rounds * interval)
        t1 = time.time()
        pg1, cpu1, snmpd1 = pg_counters(self.dsn), cpu_of(self.rig), sum(proc_cpu(p) for p in self.snmpd)
        pgcpu1 = tree_cpu(self.server.daemon.proc.pid)
        span, n = t1 - t0, len(self.rig.agents)
        polls = self.polls(t0, t1)
        same_slot, close = duplicates(polls, interval)
        two = [c for c in close if c[0].agent != c[1].agent]
        say(f"  load before: {load0}\n  load after:  {uptime()}")
        say(f"  polls per target per interval: {len(polls) / devices / (span / interval):.3f} ({len(polls)} polls)")
        say(f"  duplicates (one slot, two agents): {len(same_slot)}; close pairs (< half an interval apart): "
            f"{len(close)}, of them by two agents {len(two)}")  # fmt: skip
        per = interval / span
        say(f"  CPU per interval: agents {(cpu1 - cpu0) * per:.1f} s ({(cpu1 - cpu0) / max(len(polls), 1) * 1e3:.2f} "
            f"ms/poll), snmpd {(snmpd1 - snmpd0) * per:.1f} s, PostgreSQL {(pgcpu1 - pgcpu0) * per:.1f} s")  # fmt: skip
        say(f"  PostgreSQL per agent: {(pg1[0] - pg0[0]) / span / n:.2f} commits/s, "
            f"{(pg1[1] - pg0[1]) / span / n:.1f} rows written/s")  # fmt: skip
        writes = self.writes() - writes0
        if writes:
            say(f"  of them membership and lease writes: {writes / (time.time() - t0) / n:.2f}/s per agent")

    def writes(self) -> float:
        found = [a.metric("opsagent_cluster_store_writes_total", agent=a.name) for a in self.rig.agents]
        return sum(w or 0.0 for w in found)

    def kill(self) -> None:
        interval = self.args.interval
        victim = self.rig.agents[-1]
        mine = {p.target for p in victim.polls(time.time() - interval)}
        killed = time.time()
        self.rig.kill(victim)
        again: dict[str, float] = {}
        time.sleep(2 * interval)
        while time.time() < killed + 5 * interval:
            time.sleep(interval)  # (and one more, for the duplicates after the takeover)
            for p in self.polls(killed):
                if p.target in mine and p.agent != victim.name:
                    again[p.target] = min(again.get(p.target, math.inf), p.started)
            if len(again) == len(mine):
                break
        full = max(again.values(), default=math.inf) - killed if len(again) == len(mine) else math.inf
        same_slot, close = duplicates(self.polls(killed - interval), interval)
        say(f"  kill -9 {victim.name} ({len(mine)} targets): every one polled again {full:.1f} s after the kill = "
            f"{full / interval:.2f} intervals (goal < 2); {len(again)}/{len(mine)} taken over")  # fmt: skip
        say(f"  after the kill: duplicates {len(same_slot)}, close pairs {len(close)} "
            f"(by two agents {len([c for c in close if c[0].agent != c[1].agent])})")  # fmt: skip

    def stop(self) -> None:
        self.rig.stop_all()
        self.rig.targets.close()


def inner(args: argparse.Namespace) -> None:
    os.environ["BENCH_CLUSTER_COMMUNITY"] = COMMUNITY
    base = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    ports = list(range(PORTS_FROM, PORTS_FROM + args.devices))
    snmpd = start_devices(base, ports)
    server = start_postgres()
    try:
        snmpd_pids = [p.pid for p in snmpd]
        naive_n = args.naive_devices if args.naive_devices is not None else args.devices // args.agents
        say(f"\n{args.devices} SNMP devices (net-snmp snmpd ×{len(snmpd)} in a netns; sysUpTime, sysName and 3 columns "
            f"of a 3-row ifTable each), interval {args.interval:g} s, default heartbeat 2 s and lease 6 s, "
            f"nproc={os.cpu_count()}")  # fmt: skip
        for label, count, clustered, devices in (
            ("c", args.agents, True, args.devices),
            ("naive", 2, False, naive_n),
        ):
            if not devices:
                continue  # --naive-devices 0: the cluster alone
            run = Run(label, base, server, args, snmpd_pids)
            try:
                run.start(ports[:devices], count, clustered)
                say(f"\n[{label}] {count} agents × {devices} devices, clustering {'on' if clustered else 'off'}")
                run.measure(devices, args.rounds)
                run.kill()
            finally:
                run.stop()
    finally:
        server.stop()
        for proc in snmpd:
            proc.send_signal(signal.SIGTERM)
        for proc in snmpd:
            proc.wait(10)
        shutil.rmtree(server.base_dir, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--devices", type=int, default=10000, help="SNMP devices in all")
    parser.add_argument("--interval", type=float, default=60.0, help="poll interval (s)")
    parser.add_argument("--rounds", type=int, default=2, help="intervals measured")
    parser.add_argument("--naive-devices", type=int, default=None, help="devices of the naive pair (0: none)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(parse(sys.argv[2:]))
    else:
        parse(sys.argv[1:])  # --help, and bad options, before the namespace is made
        outer(sys.argv[1:])
