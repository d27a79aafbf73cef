"""SNMP at scale, measured: N distinct devices (default 1,000), each a 48-port switch, polled in one
round through opsagent's real poll path (App → Poller → SnmpCollector → metrics registry, as
``serve`` does), beside net-snmp's ``snmpbulkwalk`` and Prometheus's ``snmp_exporter`` on the same
agents. Goal (issue #5): ≥ 1,000 devices within one 60 s interval on 2 cores.

The devices: a private network namespace with ``lo`` + 48 interfaces (24 veth pairs) (so IF-MIB has 49 rows),
and net-snmp's ``snmpd`` (C) answering on N UDP ports of 127.0.0.1 inside it (4 processes share the
ports), so every device is a separate agent address. Nothing is configured outside the namespace.
Needs root, iproute2, snmpd/snmp and prometheus-snmp-exporter (scripts/test.sh installs them).

Run: ``.venv/bin/python bench/bench_snmp_scale.py [devices] [exporter/bulkwalk sample]``.
Prints wall time of a steady-state round, client CPU (process time, all threads), failures, the
agents' CPU, and the load average (``uptime``) before and after; asserts nothing.
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
from bench.bench_snmp import IF_TABLE_WALK, exporter_module, proc_cpu  # noqa: E402
from opsagent.gctune import tune_for_polling  # noqa: E402

COMMUNITY = "bench-scale"
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


async def opsagent_round(base: Path, ports: list[int]) -> list[tuple[float, float, int, int, float]]:
    from opsagent.app import App
    from opsagent.config import AgentConfig
    from opsagent.inventory.model import Asset, CollectorSpec

    os.environ["BENCH_COMMUNITY"] = COMMUNITY
    app = App(AgentConfig(home=base / "home", store=f"sqlite:///{base / 'bench.db'}"))
    poller = app.poller(record=True)
    spec = CollectorSpec(name="snmp", interval=60, options={"include": ["if_mib"], "identify": False, "timeout": 5})
    assets = [
        Asset(name=f"sw{p}", kind="network", address="127.0.0.1", port=p,
              credentials={"snmp": {"community": "env:BENCH_COMMUNITY"}})
        for p in ports
    ]  # fmt: skip
    rounds = []
    agents = [int(p.read_text()) for p in sorted(base.glob("snmpd*.pid"))]
    for _ in range(2):  # the first round fills the lookup caches; the second is the steady state
        a0 = sum(proc_cpu(pid) for pid in agents)
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(poller.poll(a, spec) for a in assets))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        samples = sum(len(r.samples) for r in results)
        failed = [r for r in results if not r.ok]
        rounds.append((cpu, wall, len(results) - len(failed), samples, sum(proc_cpu(p) for p in agents) - a0))
        if failed:
            print(f"  failures: {len(failed)}, e.g. {failed[0].error}")
    app.close()
    return rounds


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
        print(f"load before: {uptime()}")
        rounds = asyncio.run(opsagent_round(base, ports))
        print(f"load after opsagent: {uptime()}")
        cols = IF_TABLE_WALK
        picked = ports[:: max(1, devices // sample)][:sample]
        walk = bulkwalk_round(picked, cols)
        exporter = asyncio.run(exporter_round(base, picked))
        print(f"load after all: {uptime()}")
        print(
            f"\n{devices} devices = {devices} UDP agent endpoints of {AGENTS} net-snmp snmpd in a netns, "
            f"each IF-MIB with {INTERFACES + 1} interfaces; nproc={os.cpu_count()}"
        )
        print("opsagent, full poll path (Poller → SnmpCollector(gufo-snmp) → metrics registry), all devices:")
        for label, (cpu, wall, ok, samples, agent_cpu) in zip(
            ("round 1 (cold)", "round 2 (steady)"), rounds, strict=True
        ):
            print(
                f"  {label:17} wall {wall:6.2f} s  client CPU {cpu:6.2f} s ({cpu / max(ok, 1) * 1e3:.2f} ms/device)"
                f"  ok {ok}/{devices}  samples {samples}  agents' CPU {agent_cpu:.2f} s"
            )
        cpu, wall, ok, _s, _a = rounds[1]
        verdict = "met" if ok >= 1000 and wall <= 60 else "NOT met"
        print(f"goal ≥ 1,000 devices in one 60 s round: {verdict} ({ok} devices in {wall:.1f} s wall)")
        print(f"same agents, sample of {len(picked)} devices, client CPU per device:")
        for name, (c, w, k) in (("snmpbulkwalk (net-snmp)", walk), ("snmp_exporter", exporter)):
            print(f"  {name:24} {c / max(k, 1) * 1e3:8.2f} ms/device  ok {k}/{len(picked)}  wall {w:.2f} s")
        print(f"  {'opsagent (steady)':24} {cpu / max(ok, 1) * 1e3:8.2f} ms/device")
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
        outer(n, int(sys.argv[2]) if len(sys.argv) > 2 else 100)
