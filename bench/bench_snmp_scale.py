"""SNMP at fleet scale, measured from outside: a real ``opsagent serve`` polling N devices (default
1,000), each a 49-interface IF-MIB (the shipped ``if_mib`` profile), every 60 s, while the simulated
devices run on the same 2 cores. Goals (issue #25): 5,000 devices ≤ 60 agent CPU-seconds per round;
2,500 devices polled every round within its 60 s, no late or missed poll.

The devices: a private network namespace with ``lo`` + 48 interfaces (24 veth pairs) (so IF-MIB has
49 rows), and net-snmp's ``snmpd`` (C) answering on N UDP ports of 127.0.0.1 inside it (4 processes
share the ports), so every device is a separate agent address. Nothing is configured outside the
namespace. Needs root, iproute2, snmpd/snmp and prometheus-snmp-exporter (scripts/test.sh installs them).

After one warm-up round, 2 rounds are measured: the agent's CPU per round (serve and its SNMP poll
worker processes, from /proc), the simulators' CPU, and per device each poll's completion time
(``/metrics?scope=agent`` read every 20 s; one full ``/metrics`` scrape per round) against its
scheduled slot: *late* = completed more than half an interval after its slot, *missed* = no completed
poll in the interval after its slot. The load average is printed before and after.

Run: ``.venv/bin/python bench/bench_snmp_scale.py [devices] [exporter/bulkwalk sample, default 0]``.
Asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.bench_snmp import IF_TABLE_WALK, exporter_module, proc_cpu, tree_cpu  # noqa: E402
from opsagent.gctune import tune_for_polling  # noqa: E402

COMMUNITY = "bench-scale"
INTERVAL = 60
ROUNDS = 2
PORTS_FROM = 20000
AGENTS = 4
INTERFACES = 48


def sh(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload]


def uptime() -> str:
    return sh("uptime").stdout.strip()


# -- outside: build the namespace and run ourselves inside it ---------------------------------------
def outer(devices: int, sample: int) -> None:
    ns = f"oa-scale-{secrets.token_hex(3)}"
    sh("ip", "netns", "add", ns)
    try:
        batch = ["link set lo up"]
        for i in range(0, INTERFACES, 2):  # veth pairs: the dummy driver is not loadable here
            batch += [
                f"link add eth{i} type veth peer name eth{i + 1}",
                f"link set eth{i} up",
                f"link set eth{i + 1} up",
            ]
        sh("ip", "-n", ns, "-batch", "-", input="\n".join(batch) + "\n")
        argv = ["ip", "netns", "exec", ns, sys.executable, __file__, "--inner", str(devices), str(sample)]
        subprocess.run(argv, check=True, cwd=ROOT, timeout=1800)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=60)


# -- inside the namespace ---------------------------------------------------------------------------
def start_agents(base: Path, ports: list[int]) -> list[subprocess.Popen[bytes]]:
    procs = []
    env = {"MIBS": "", "PATH": "/usr/sbin:/usr/bin:/bin", "SNMP_PERSISTENT_DIR": str(base / "persist")}
    for k in range(AGENTS):
        mine = ports[k::AGENTS]
        conf = base / f"snmpd{k}.conf"
        # listening addresses on the command line: a conf line this long is cut off by net-snmp
        listen = ",".join(f"udp:127.0.0.1:{p}" for p in mine)
        conf.write_text(f"rocommunity {COMMUNITY} 127.0.0.1\nsysName bench-{k}\n")
        argv = ["snmpd", "-f", "-C", "-c", str(conf), "-I", "-smux,mteTrigger,mteTriggerConf"]
        argv += ["-Lf", str(base / f"snmpd{k}.log"), "-p", str(base / f"snmpd{k}.pid"), listen]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        wait_agents(base, ports)
    except BaseException:  # never leave agents behind when they did not come up
        for proc in procs:
            proc.terminate()
        raise
    return procs


def wait_agents(base: Path, ports: list[int]) -> None:
    env2 = {**os.environ, "MIBS": ""}
    for port in ports[:AGENTS] + ports[-AGENTS:]:
        for _ in range(100):
            ok = subprocess.run(
                ["snmpget", "-v2c", "-c", COMMUNITY, "-t", "1", "-r", "0", f"127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"],
                env=env2, capture_output=True, check=False,
            )  # fmt: skip
            if ok.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"snmpd did not answer on {port}: {(base / 'snmpd0.log').read_text()[-2000:]}")


def serve_window(base: Path, ports: list[int], rounds: int) -> dict[str, object]:
    """A real ``opsagent serve`` polling every device each ``INTERVAL``; after one round to warm up,
    ``rounds`` rounds are measured: its CPU (with its workers), the agents' CPU, and per device
    every poll's completion (``/metrics?scope=agent``, read every 20 s) against its scheduled slot."""
    from bench.bench_snmp import get_text, per_asset, serve_home, start_serve, wait_steady
    from opsagent.config import DEFAULT_POLL_WAVE
    from opsagent.scheduler import phase

    devices = [(p, COMMUNITY) for p in ports]
    home, env = serve_home(base, devices, INTERVAL)  # the default settings: what a user gets
    serve, port = start_serve(home, env)
    agents = [int(p.read_text()) for p in sorted(base.glob("snmpd*.pid"))]
    try:
        wait_steady(port, len(ports), INTERVAL, serve, rounds=8)  # the cold first round is the slow one
        names = [f"dev{i:05d}" for i in range(len(ports))]
        phases = {n: phase(f"poll:{n}:snmp:if_mib", INTERVAL, DEFAULT_POLL_WAVE) for n in names}
        agent_url = f"http://127.0.0.1:{port}/metrics?scope=agent"
        text0 = get_text(agent_url)
        skipped0, errors0 = sum(per_asset(text0, "opsagent_collect_skipped_total").values()), errors_by_reason(text0)
        load_before = uptime()
        t0 = time.time()
        cpu0, sims0 = tree_cpu(serve.proc.pid), sum(proc_cpu(p) for p in agents)
        own0 = proc_cpu(serve.proc.pid)
        done: dict[str, set[float]] = {n: set() for n in names}
        scrapes = 0
        end = t0 + rounds * INTERVAL + 5
        while True:
            text = get_text(agent_url)
            for name, ts in per_asset(text, "opsagent_collect_last_success_timestamp_seconds").items():
                done[name].add(ts)
            if time.time() >= end:  # the last read at the window's end: the last slots' polls are in it
                break
            if time.time() >= t0 + (scrapes + 1) * INTERVAL:  # one full scrape per round, as Prometheus
                scrapes += 1
                get_text(f"http://127.0.0.1:{port}/metrics")
            # a completion stays readable until the next poll, 60 s later
            time.sleep(max(0.0, min(20.0, end - time.time())))
        cpu, sims = tree_cpu(serve.proc.pid) - cpu0, sum(proc_cpu(p) for p in agents) - sims0
        own = proc_cpu(serve.proc.pid) - own0
        text1 = get_text(agent_url)
        skipped = sum(per_asset(text1, "opsagent_collect_skipped_total").values()) - skipped0
        failed = {r: n - errors0.get(r, 0) for r, n in errors_by_reason(text1).items() if n > errors0.get(r, 0)}
        late = missed = 0
        lateness: list[float] = []
        for name in names:
            for k in range(rounds):  # the device's k-th slot inside the window
                first = t0 + (phases[name] - t0) % INTERVAL + k * INTERVAL
                hits = [ts - first for ts in done[name] if first <= ts < first + INTERVAL]
                if not hits:
                    missed += 1
                    continue
                lateness.append(min(hits))
                late += min(hits) > INTERVAL / 2
        return {
            "cpu": cpu / rounds, "serve": own / rounds, "sims": sims / rounds, "late": late, "missed": missed,
            "skipped": skipped, "failed": failed,
            "worst": max(lateness, default=float("nan")), "polls": len(lateness), "load": load_before,
            "load_after": uptime(),
        }  # fmt: skip
    finally:
        serve.stop()


def errors_by_reason(text: str) -> dict[str, float]:
    """Failed polls so far, summed per reason (``opsagent_collect_errors_total``)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("opsagent_collect_errors_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = out.get(reason, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def bulkwalk_round(ports: list[int], cols: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    ok = 0
    for i in range(0, len(ports), 8):
        procs = []
        for port in ports[i : i + 8]:
            argv = ["snmpbulkwalk", "-v2c", "-c", COMMUNITY, "-On", "-Cr25", "-t", "5", f"127.0.0.1:{port}"]
            script = " && ".join(" ".join([*argv, c]) + " >/dev/null" for c in cols)
            procs.append(subprocess.Popen(["sh", "-c", script], env=env))
        ok += sum(p.wait() == 0 for p in procs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), time.perf_counter() - t0, ok


async def exporter_round(base: Path, ports: list[int]) -> tuple[float, float, int]:
    import aiohttp
    import yaml

    config = {"if_mib": exporter_module(COMMUNITY)}
    (base / "snmp.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = 19116
    argv = ["prometheus-snmp-exporter", f"--config.file={base / 'snmp.yml'}", f"--web.listen-address=127.0.0.1:{port}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        gate = asyncio.Semaphore(64)  # like our poller's max_concurrent_polls

        async def scrape(session: aiohttp.ClientSession, target: int) -> bool:
            async with gate:
                url = f"http://127.0.0.1:{port}/snmp?module=if_mib&target=127.0.0.1:{target}"
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as resp:
                    return resp.status == 200 and "ifHCInOctets{" in await resp.text()

        async with aiohttp.ClientSession() as session:
            for _ in range(50):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            await asyncio.gather(*(scrape(session, p) for p in ports[:8]))  # warm
            cpu0, t0 = proc_cpu(proc.pid), time.perf_counter()
            oks = await asyncio.gather(*(scrape(session, p) for p in ports))
            return proc_cpu(proc.pid) - cpu0, time.perf_counter() - t0, sum(oks)
    finally:
        proc.terminate()
        proc.wait(10)


def inner(devices: int, sample: int) -> None:
    tune_for_polling()  # as `opsagent serve` does
    base = Path(tempfile.mkdtemp(prefix="opsagent-bench-scale-"))
    ports = list(range(PORTS_FROM, PORTS_FROM + devices))
    agents = start_agents(base, ports)
    try:
        found = serve_window(base, ports, ROUNDS)
        print(
            f"\n{devices} devices = {devices} UDP agent endpoints of {AGENTS} net-snmp snmpd in a netns, "
            f"each IF-MIB with {INTERFACES + 1} interfaces; opsagent serve, interval {INTERVAL} s, "
            "default settings, "
            f"{ROUNDS} rounds measured; nproc={os.cpu_count()}"
        )
        print(f"  load before: {found['load']}\n  load after:  {found['load_after']}")
        print(
            f"  agent CPU per round {found['cpu']:.1f} s ({found['cpu'] / devices * 1e3:.2f} ms/device;"
            f" serve {found['serve']:.1f} s, its SNMP workers {found['cpu'] - found['serve']:.1f} s)"
            f"  simulators' CPU per round {found['sims']:.1f} s"
        )
        print(
            f"  polls {found['polls']}/{devices * ROUNDS}: late (> {INTERVAL // 2} s after their slot) {found['late']},"
            f" missed {found['missed']}, skipped by the scheduler {found['skipped']:.0f},"
            f" failed polls by reason {found['failed'] or 'none'};"
            f" worst completion {found['worst']:.1f} s after its slot (round time)"
        )
        goal_cpu = "met" if found["cpu"] <= 60 * devices / 5000 else "NOT met"  # type: ignore[operator]
        print(f"  goal ≤ 60 agent CPU-s per 5,000 devices per round (pro rata): {goal_cpu}")
        if sample:
            picked = ports[:: max(1, devices // sample)][:sample]
            walk = bulkwalk_round(picked, IF_TABLE_WALK)
            exporter = asyncio.run(exporter_round(base, picked))
            print(f"  same agents, sample of {len(picked)} devices, client CPU per device:")
            for name, (c, w, k) in (("snmpbulkwalk (net-snmp)", walk), ("snmp_exporter", exporter)):
                print(f"    {name:24} {c / max(k, 1) * 1e3:8.2f} ms/device  ok {k}/{len(picked)}  wall {w:.2f} s")
    finally:
        for proc in agents:
            proc.terminate()
        for proc in agents:
            proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(int(sys.argv[2]), int(sys.argv[3]))
    else:
        n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
        outer(n, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
