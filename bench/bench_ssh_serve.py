"""SSH polling end to end, as users run it: client CPU per poll of a real ``opsagent serve`` polling N hosts
over SSH at its poll interval (idle time between polls included, one /metrics scrape per interval as a
Prometheus would make), beside the clients users would otherwise script for the same commands, in the
same run:

- paramiko, a new connection per poll (connect, host-key check, public-key auth, one exec, close);
- OpenSSH's ``ssh``, a new process and connection per poll;
- Ansible's ``raw`` module over all hosts (``ansible all -m raw``), with its defaults (OpenSSH with
  ControlMaster/ControlPersist): the controller, its forks, ``ssh`` and the ControlMaster processes are
  all counted (this process is their child subreaper, so even the daemonised masters are reaped here);
- and, as the floor under serve's figure, bare persistent-session clients (``bench/ssh_persistent.py``)
  with paramiko (serve's library) and with libssh2 (C): serve's SSH exchange at serve's slots (interval,
  phases, waves), idle included, and nothing else (no parsing, registry, alerts or scrape).

Every client runs the same batch script (the ``linux`` SSH profile). ``serve``'s CPU is read from
/proc/<pid>/stat (all its threads) between two scrapes ``--intervals`` poll intervals apart; its polls are
counted from each host's ``opsagent_collect_last_success_timestamp_seconds``. The reconnecting clients have
no idle cost, so their CPU per poll is the same at any interval. Goal (issue 25, item 4): ≤ 1 ms of client
CPU per poll at a 60 s interval.

    .venv/bin/python bench/bench_ssh_serve.py [--assets 100] [--interval 60] [--intervals 3] [--servers 2]

Needs root (it starts sshd as the tests do), ansible-core and ssh2-python (``pip install -e '.[bench]'``).
Prints figures with the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paramiko

from bench.bench_ssh import sshd_cpu
from opsagent.collectors import options_models
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.ssh.batch import build_script
from opsagent.collectors.ssh.options import SshOptions
from tests.e2e.agent import serving, wait_until
from tests.peers.sshd import SshServer, start_sshd

ROOT = Path(__file__).resolve().parents[1]
GOAL_MS = 1.0
_ALERTS = re.compile(r'^opsagent_alerts\{state="(\w+)"\} (\S+)$', re.M)
_LAST = re.compile(r'^opsagent_collect_last_success_timestamp_seconds\{asset="([^"]+)",collector="ssh"\} (\S+)$', re.M)
PR_SET_CHILD_SUBREAPER = 36


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (every thread), seconds."""
    return proc_cpu_path(Path(f"/proc/{pid}/stat"))


def threads_cpu(pid: int) -> dict[int, float]:
    """CPU time of each thread of a process, seconds: the scheduler's own nanosecond count
    (``schedstat``) where the kernel has it. ``stat``'s utime + stime are whole clock ticks per thread,
    so a group of many lightly used threads (paramiko's 100 transports, 64 SSH workers) read ~0."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            try:
                out[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
            except FileNotFoundError:
                out[int(task.name)] = proc_cpu_path(task / "stat")
    return out


def proc_cpu_path(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_groups(pid: int) -> dict[int, str]:
    """Native thread id -> its Python thread's name with the trailing number dropped (``opsagent-ssh_3`` ->
    ``opsagent-ssh``; paramiko's transports are ``Thread-N``), read by ``py-spy dump`` (no sampling)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    try:
        text = subprocess.run([spy, "dump", "-p", str(pid)], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {
        int(tid): re.sub(r"[-_]\d+$", "", name)
        for tid, name in re.findall(r'^Thread (\d+) \(\w+\): "(.*)"', text, re.M)
    }


def by_group(before: dict[int, float], after: dict[int, float], names: dict[int, str]) -> dict[str, float]:
    groups: dict[str, float] = {}
    for tid, cpu in after.items():
        group = names.get(tid, "other (short-lived)")
        groups[group] = groups.get(group, 0.0) + cpu - before.get(tid, 0.0)
    return groups


def children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def scrape_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        return resp.read().decode()


def scrape(port: int) -> dict[str, float]:
    return {asset: float(ts) for asset, ts in _LAST.findall(scrape_text(port))}


def alerts(port: int) -> dict[str, float]:
    """Alerts by state (pending, firing) as serve exposes them."""
    return {state: float(n) for state, n in _ALERTS.findall(scrape_text(port))}


def settled(port: int, seconds: float) -> None:
    """Wait (at most ``seconds``) until no alert is pending. The default rules judge these hosts too (on
    this machine, e.g. its down ``ifb`` interfaces fire NodeNetworkInterfaceDown after 2 minutes): the
    one-time opening of those incidents is not a poll's cost, so the window starts after it."""
    deadline = time.monotonic() + seconds
    while alerts(port).get("pending", 0) > 0 and time.monotonic() < deadline:
        time.sleep(1)


def write_home(home: Path, servers: list[SshServer], n: int, interval: float) -> None:
    known = ", ".join(f'"{s.known_hosts}"' for s in servers)
    lines = ["assets:"]
    for i in range(n):
        s = servers[i % len(servers)]
        lines += [
            f"  - name: host{i:04d}",
            f"    address: {s.host}",
            f"    port: {s.port}",
            f"    credentials: {{ssh: {{user: {s.user}, key_file: {s.client_key}}}}}",
            f"    collectors: [{{name: ssh, profile: linux, interval: {interval:g}s,"
            f" options: {{known_hosts: [{known}]}}}}]",
        ]
    (home / "inv.yaml").write_text("\n".join(lines) + "\n")
    workers = min(64, n)
    (home / "opsagent.yaml").write_text(
        f"seed_inventory: [inv.yaml]\ncollector_settings: {{ssh: {{max_workers: {workers}}}}}\n"
    )


def run_serve(
    servers: list[SshServer], n: int, interval: float, intervals: int, profile: str | None = None
) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="bench-ssh-serve-"))
    try:
        write_home(home, servers, n, interval)
        with serving(home) as (proc, port, log):
            # Warm-up (untimed): every host polled at least twice, so connections are open and steady.
            first = wait_until(lambda: (lambda s: s if len(s) == n else None)(scrape(port)), 120 + 2 * interval,
                               "every host polled once", log, proc)  # fmt: skip
            wait_until(lambda: all(v > first[a] for a, v in scrape(port).items()), 3 * interval + 60,
                       "every host polled twice", log, proc)  # fmt: skip
            settled(port, 180)
            before = alerts(port)
            spy = profiler(proc.pid, profile, interval * intervals) if profile else None
            start, cpu0, sshd0, wall0 = scrape(port), proc_cpu(proc.pid), sshd_cpu(servers), time.monotonic()
            tcpu0 = threads_cpu(proc.pid)
            for _ in range(intervals):
                time.sleep(interval)
                end = scrape(port)  # one scrape per interval, as Prometheus makes
            cpu, sshd, wall = proc_cpu(proc.pid) - cpu0, sshd_cpu(servers) - sshd0, time.monotonic() - wall0
            after = alerts(port)
            groups = by_group(tcpu0, threads_cpu(proc.pid), thread_groups(proc.pid))
            if spy is not None:
                spy.wait(timeout=60)
        polls = sum(round((end[a] - start[a]) / interval) for a in start)
        expected = n * intervals
        print(
            f"serve's alerts: pending {before.get('pending', 0):g} firing {before.get('firing', 0):g} at the "
            f"window's start, pending {after.get('pending', 0):g} firing {after.get('firing', 0):g} at its end"
        )
        for group, seconds in sorted(groups.items(), key=lambda g: -g[1]):
            print(f"  serve's {group} threads: {seconds * 1000 / max(polls, 1):.2f} ms/poll")
        return {"polls": polls, "failed": max(0, expected - polls), "wall": wall, "cpu": cpu / max(polls, 1),
                "sshd": sshd / max(polls, 1)}  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)


def profiler(pid: int, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling serve (every thread) over the measured window, as collapsed
    stacks in ``out``: where serve's CPU goes. serve is mostly idle, so a window holds few samples: rank
    shares from it, quote figures from runs without ``--profile``."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    # --nonblocking: read the stacks without stopping serve's threads (stopping 100+ paramiko threads 50
    # times a second charged them ~12 ms of CPU per poll, more than serve's own cost)
    # BENCH_SPY_RATE: samples a second; BENCH_SPY_GIL=1: only the thread holding the GIL (Python's own CPU)
    rate = os.environ.get("BENCH_SPY_RATE", "50")
    argv = [spy, "record", "-p", str(pid), "-r", rate, "--threads", "--nonblocking", "-f", "raw", "-o", out]
    argv += ["-d", str(int(seconds))] + (["--gil"] if os.environ.get("BENCH_SPY_GIL") else [])
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_paramiko(servers: list[SshServer], n: int, script: str, workers: int = 32) -> dict[str, float]:
    def one(i: int) -> bool:
        s = servers[i % len(servers)]
        client = paramiko.SSHClient()
        client.load_host_keys(str(s.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(s.host, s.port, s.user, key_filename=str(s.client_key), look_for_keys=False,
                           allow_agent=False, timeout=30)  # fmt: skip
            stdin, stdout, _stderr = client.exec_command("sh")
            stdin.write(script)
            stdin.channel.shutdown_write()
            stdout.read()
            return stdout.channel.recv_exit_status() == 0
        finally:
            client.close()

    t0, sshd0, wall0 = os.times(), sshd_cpu(servers), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(one, range(n)))
    t1 = os.times()
    cpu = (t1.user + t1.system) - (t0.user + t0.system)
    return {"polls": n, "failed": ok.count(False), "wall": time.perf_counter() - wall0, "cpu": cpu / n,
            "sshd": (sshd_cpu(servers) - sshd0) / n}  # fmt: skip


def run_openssh(servers: list[SshServer], n: int, script: str, workers: int = 32) -> dict[str, float]:
    def one(i: int) -> bool:
        s = servers[i % len(servers)]
        argv = ["ssh", "-T", "-i", str(s.client_key), "-p", str(s.port), "-o", "BatchMode=yes"]
        argv += ["-o", f"UserKnownHostsFile={s.known_hosts}", "-o", "StrictHostKeyChecking=yes", f"{s.user}@{s.host}"]
        return subprocess.run([*argv, "sh"], input=script.encode(), capture_output=True, timeout=60).returncode == 0

    cpu0, sshd0, wall0 = children_cpu(), sshd_cpu(servers), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(one, range(n)))
    return {"polls": n, "failed": ok.count(False), "wall": time.perf_counter() - wall0,
            "cpu": (children_cpu() - cpu0) / n, "sshd": (sshd_cpu(servers) - sshd0) / n}  # fmt: skip


def _reap_orphans(seconds: float = 5.0) -> None:
    """Reap the exited ControlMaster processes reparented to us (we are their subreaper), so their CPU is
    in our children's account; sshd, our other child, lives on and is not waited for."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.1)


def run_ansible(servers: list[SshServer], n: int, script: str, forks: int = 32) -> dict[str, float] | None:
    ansible = shutil.which("ansible", path=str(Path(sys.executable).parent)) or shutil.which("ansible")
    if ansible is None:
        return None
    work = Path(tempfile.mkdtemp(prefix="bench-ssh-ansible-"))
    try:
        known = work / "known_hosts"
        known.write_text("".join(s.known_hosts.read_text() for s in servers))
        hosts = "".join(
            f"host{i:04d} ansible_host={servers[i % len(servers)].host} ansible_port={servers[i % len(servers)].port}"
            f" ansible_user={servers[i % len(servers)].user}"
            f" ansible_ssh_private_key_file={servers[i % len(servers)].client_key}\n"
            for i in range(n)
        )
        (work / "hosts.ini").write_text("[all]\n" + hosts)
        env = os.environ | {
            "ANSIBLE_SSH_ARGS": f"-C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known}",
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(work / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
        }
        argv = [ansible, "all", "-i", str(work / "hosts.ini"), "-m", "raw", "-a", script, "-f", str(forks)]
        cpu0, sshd0, wall0 = children_cpu(), sshd_cpu(servers), time.perf_counter()
        res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - wall0
        failed = n - len(re.findall(r"\| CHANGED \|", res.stdout))
        for master in (work / "cp").glob("*"):  # the ControlPersist masters would linger for 60 s
            subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={master}", "x"], capture_output=True)
        _reap_orphans()
        return {"polls": n, "failed": failed, "wall": wall, "cpu": (children_cpu() - cpu0) / n,
                "sshd": (sshd_cpu(servers) - sshd0) / n}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def reconnecting(servers: list[SshServer], polls: int, script: str) -> list[tuple[str, dict[str, float]]]:
    rows = [("paramiko, new connection per poll", run_paramiko(servers, polls, script))]
    rows.append(("OpenSSH ssh, new connection per poll", run_openssh(servers, polls, script)))
    found = run_ansible(servers, polls, script)
    if found is not None:
        rows.append(("Ansible raw module (ControlPersist defaults)", found))
    return rows


def persistent(servers: list[SshServer], n: int, interval: float, intervals: int) -> list[tuple[str, dict[str, float]]]:
    """The floor under serve's figure: bare persistent-session clients (bench/ssh_persistent.py, each in a
    process of its own) doing serve's SSH exchange at serve's slots, and nothing else."""
    arg = json.dumps([{"host": s.host, "port": s.port, "user": s.user, "key": str(s.client_key),
                       "known_hosts": str(s.known_hosts)} for s in servers])  # fmt: skip
    rows = []
    for lib, name in (("paramiko", "paramiko"), ("libssh2", "libssh2 (C, ssh2-python)")):
        argv = [sys.executable, str(ROOT / "bench" / "ssh_persistent.py"), "--lib", lib, "--interval", f"{interval:g}",
                "--intervals", str(intervals), arg, str(n)]  # fmt: skip
        sshd0 = sshd_cpu(servers)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=intervals * interval + 600)
        if res.returncode != 0:
            print(f"{name}: the persistent client failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["sshd"] = (sshd_cpu(servers) - sshd0) / max(row["polls"], 1)
        rows.append((f"{name}, persistent session, output read only", row))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--interval", type=float, default=60.0, help="serve's poll interval, seconds")
    parser.add_argument("--intervals", type=int, default=3, help="poll intervals measured after the warm-up")
    parser.add_argument("--reconnect-polls", type=int, default=100, help="polls of each reconnecting client")
    parser.add_argument("--persistent-intervals", type=int, default=1,
                        help="poll intervals of each bare persistent-session client")  # fmt: skip
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--profile", help="write py-spy's collapsed stacks of serve over the window here")
    parser.add_argument("--serve-only", action="store_true", help="measure serve alone")
    args = parser.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    script = build_script(SshOptions.model_validate(
        dict(load_profiles([ROOT], options_models())[("ssh", "linux")].options)).checks)  # fmt: skip
    servers = [start_sshd() for _ in range(args.servers)]
    try:
        rows = [(f"opsagent serve, {args.interval:g} s interval, idle included", run_serve(servers, args.assets,
                 args.interval, args.intervals, args.profile))]  # fmt: skip
        if not args.serve_only:
            rows += persistent(servers, args.assets, args.interval, args.persistent_intervals)
            rows += reconnecting(servers, args.reconnect_polls, script)
    finally:
        for server in servers:
            server.stop()
    print(f"SSH polls, linux profile, {args.assets} hosts on {args.servers} local sshd, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'client':64} {'polls':>6} {'failed':>6} {'wall s':>8} {'client CPU ms/poll':>19} {'sshd CPU ms/poll':>17}")
    for name, r in rows:
        print(f"{name:64} {r['polls']:>6.0f} {r['failed']:>6.0f} {r['wall']:>8.1f} {r['cpu'] * 1000:>19.2f} "
              f"{r['sshd'] * 1000:>17.2f}")  # fmt: skip
    ours = rows[0][1]["cpu"] * 1000
    for name, r in rows[1:]:
        ratio = r["cpu"] * 1000 / max(ours, 1e-9)
        print(f"{name}: {ratio:.{2 if ratio < 1 else 1}f}x opsagent's client CPU per poll")
    verdict = "met" if ours <= GOAL_MS else "NOT met"
    print(f"goal: <= {GOAL_MS:g} ms client CPU per poll at a {args.interval:g} s interval: {verdict} ({ours:.2f} ms)")


if __name__ == "__main__":
    main()
