"""A 3-step SSH runbook over N targets (the local sshd as every target) with concurrency C,
beside the bare SSH work (same connections, same commands, same concurrency, no executor), in
the same run.

Goal: executor overhead < 5 ms per target-step, 1,000 targets in < 60 s on 2 cores (Rundeck:
1,000 nodes in ~52 s on 8 cores).

    .venv/bin/python bench/bench_runbooks.py [--targets 1000] [--concurrency 100]

Needs root (starts sshd and creates the test user, as the test suite does). Prints figures;
asserts nothing. "overhead" is what the executor adds on top of the bare SSH calls: templating,
when/check evaluation, result objects, progress hooks and the audit rows written to SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opsagent.collectors.ssh.connection import Pool
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.oneshot import run_batch
from opsagent.collectors.ssh.options import SshOptions
from opsagent.inventory.model import Asset, Inventory
from opsagent.loader import parse_yaml_text, validate
from opsagent.runbooks.approvals import AutoApprover
from opsagent.runbooks.context import RunRequest
from opsagent.runbooks.executor import Executor
from opsagent.runbooks.model import Runbook
from opsagent.runbooks.transports import ssh_options
from opsagent.store import Store
from opsagent.store import runbook_repo as runs
from tests.peers.sshd import SshServer, start_sshd

COMMANDS = ["uptime", "df -P / | tail -1", "cat /proc/loadavg"]
RUNBOOK = """
name: bench
kind: inspection
targets: all
steps:
  - name: uptime
    ssh: uptime
    register: up
  - name: root fs
    ssh: "df -P / | tail -1"
    register: fs
    value: "{{ fs.stdout.split()[4] }}"
    check:
      - fail: "fs.stdout.split()[4] | replace('%', '') | int >= limit"
        message: "root at {{ fs.stdout.split()[4] }}"
  - name: load
    ssh: cat /proc/loadavg
    when: "up.rc == 0"
"""


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def server_cpu(pid: int) -> float:
    """CPU of sshd and every connection it served and reaped (the peer's side of the work)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    """The 1/5/15-minute load averages, as `uptime` shows them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def assets(server: SshServer, n: int) -> list[Asset]:
    variables = {"opsagent_ssh": {"known_hosts": [str(server.known_hosts)], "connect_timeout": 30}, "limit": 99}
    return [
        Asset(
            name=f"t{i:04d}",
            address=server.host,
            port=server.port,
            vars=variables,
            credentials={"ssh": {"user": server.user, "key_file": str(server.client_key)}},
        )
        for i in range(n)
    ]


def bare(targets: list[Asset], concurrency: int) -> tuple[float, float, float]:
    """The same SSH work without the executor: (wall s, CPU s, mean seconds per command)."""
    from opsagent.collectors.ssh.collector import endpoint_for

    pool = Pool()
    options: SshOptions = ssh_options(targets[0], dict(targets[0].vars))
    per_command: list[float] = []
    failures: list[str] = []

    def one(asset: Asset) -> None:
        endpoint, _ = endpoint_for(asset, options, 60)
        for command in COMMANDS:
            t0 = time.perf_counter()
            try:
                transport, _reused = pool.transport(asset.name, endpoint)
                out = run_batch(transport, command, timeout=60, max_bytes=1 << 20)
            except SshFailure as exc:
                failures.append(exc.reason)
                return
            per_command.append(time.perf_counter() - t0)
            assert out.exit_status == 0

    c0, w0 = cpu(), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as threads:
        list(threads.map(one, targets))
    wall, used = time.perf_counter() - w0, cpu() - c0
    pool.close()
    if failures:
        print(f"bare SSH: {len(failures)} target(s) failed: {sorted(set(failures))}")
    return wall, used, sum(per_command) / max(len(per_command), 1)


async def runbook(
    targets: list[Asset], concurrency: int, store: Store
) -> tuple[float, float, float, str, dict[str, int]]:
    rb = validate(parse_yaml_text(RUNBOOK, "bench.yaml"), Runbook)
    inventory = Inventory(assets={a.name: a for a in targets})
    executor = Executor(store, inventory, AutoApprover(store, "bench"), max_threads=concurrency)
    c0, w0 = cpu(), time.perf_counter()
    result = await executor.run(RunRequest(rb, actor="bench", concurrency=concurrency))
    wall, used = time.perf_counter() - w0, cpu() - c0
    steps = [s for t in result.targets.values() for s in t.steps]
    mean_step = sum(s.duration for s in steps) / max(len(steps), 1)
    by_status: dict[str, int] = {}
    for t in result.targets.values():
        by_status[t.status] = by_status.get(t.status, 0) + 1
    return wall, used, mean_step, result.status, by_status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    server = start_sshd(user="opsagent-rbbench")  # its own user: never changes the test user's password
    sshd = server.daemon.proc.pid
    tmp = Path(tempfile.mkdtemp(prefix="opsagent-bench-rb-"))
    store = Store(f"sqlite:///{tmp / 'bench.db'}")
    try:
        targets = assets(server, args.targets)
        n_steps = args.targets * len(COMMANDS)
        load_before = load()
        s0 = server_cpu(sshd)
        b_wall, b_cpu, b_cmd = bare(targets, args.concurrency)
        time.sleep(3)  # sshd reaps its last children (their CPU lands in its counters)
        s1 = server_cpu(sshd)
        load_mid = load()
        r_wall, r_cpu, r_step, status, by_status = asyncio.run(runbook(targets, args.concurrency, store))
        time.sleep(3)
        s2 = server_cpu(sshd)
        load_after = load()
        rows = sum(len(runs.get_run(store, r["id"])["steps"]) for r in runs.list_runs(store, "bench"))  # type: ignore[index]
        print(f"{args.targets} targets × {len(COMMANDS)} steps, concurrency {args.concurrency}, {os.cpu_count()} CPUs")
        print(f"load average (1/5/15 min): before {load_before} · after bare {load_mid} · after runbook {load_after}")
        print(f"{'':28}{'bare SSH (paramiko)':>22}{'opsagent runbook':>20}")
        print(f"{'total wall time':28}{b_wall:>20.1f} s{r_wall:>18.1f} s")
        print(f"{'client CPU (agent process)':28}{b_cpu:>20.1f} s{r_cpu:>18.1f} s")
        print(f"{'server CPU (sshd + shells)':28}{s1 - s0:>20.1f} s{s2 - s1:>18.1f} s")
        print(f"{'client CPU per target-step':28}{b_cpu / n_steps * 1000:>19.2f} ms{r_cpu / n_steps * 1000:>17.2f} ms")
        print(f"{'mean time per command/step':28}{b_cmd * 1000:>19.1f} ms{r_step * 1000:>17.1f} ms")
        overhead_cpu = (r_cpu - b_cpu) / n_steps * 1000
        print(f"executor overhead per target-step: {overhead_cpu:.2f} ms CPU (goal < 5 ms); ", end="")
        print(f"wall time over bare SSH: {r_wall - b_wall:+.1f} s ({(r_wall / b_wall - 1) * 100:+.0f} %)")
        busy = (r_cpu + s2 - s1) / (os.cpu_count() or 1)
        print(f"CPU floor of this machine for the runbook (client + sshd CPU / cores): {busy:.1f} s")
        print(f"run status {status}, targets {by_status}, audit rows stored: {rows} step results")
        print(f"goal: {args.targets} targets < 60 s → {'met' if r_wall < 60 else 'NOT met'} ({r_wall:.1f} s)")
    finally:
        store.close()
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
