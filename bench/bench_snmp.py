"""SNMP polling end to end: CPU per device and per varbind of a real ``opsagent serve`` beside
Prometheus's ``snmp_exporter`` and bare gufo-snmp, all three polling the same agents in the same window.

- **opsagent**: an ``opsagent serve`` process with N snmp assets (the shipped ``if_mib`` profile) on
  one interval; its CPU (with its SNMP poll worker processes) is read from ``/proc/<pid>/stat`` over
  whole intervals, and the bench scrapes
  its ``/metrics`` once per round, so poll → registry → exposition are all counted, as in production.
- **snmp_exporter**: a hand-written ``snmp.yml`` as snmp_exporter's generator emits it for IF-MIB
  (``walk`` per table: ``interfaces`` and ``ifXTable``; ``get`` sysUpTime; the same metric names,
  types and ifAlias/ifDescr/ifName lookups as the ``if_mib`` profile exposes), one module per
  community. The bench scrapes ``/snmp?target=…`` once per device per round, spread over the round
  as Prometheus would; CPU from ``/proc/<pid>/stat``.
- **bare gufo-snmp**: a child process doing the exporter's walks (per table, GETBULK, 25
  repetitions) with gufo-snmp's own async iterator and nothing else; CPU of the child's own process.

N devices = N UDP endpoints of one snmpsim process; device i answers with the recording of
``tests.peers.snmp.RECORDINGS`` i mod 11 (Cisco, Huawei, H3C, Juniper, ZTE, Ruijie, NetApp, …).
The simulator's CPU is printed too (it is Python, and bounds the wall time here).

Run: ``.venv/bin/python bench/bench_snmp.py [devices=11] [rounds=2] [interval=30]``.
Asserts nothing; prints the goal (opsagent CPU per device ≤ 0.5 × snmp_exporter's).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.peers.ports import free_port, wait_port  # noqa: E402
from tests.peers.process import Daemon  # noqa: E402
from tests.peers.snmp import RECORDINGS, start_snmpsim  # noqa: E402

IF_TABLE_WALK = ["1.3.6.1.2.1.2", "1.3.6.1.2.1.31.1.1"]  # generator: walk [interfaces, ifXTable]
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
MAX_REPETITIONS = 25


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU of a process and its children (serve's SNMP poll workers)."""
    total = proc_cpu(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += tree_cpu(int(child))
    return total


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- snmp_exporter: an IF-MIB module as the generator writes it ------------------------------------
_IFX = "1.3.6.1.2.1.31.1.1.1."
_IF = "1.3.6.1.2.1.2.2.1."
# (name, oid, type) of every exposed IF-MIB object, as the generator names them from the MIB
IF_MIB_OBJECTS = [
    ("ifIndex", _IF + "1", "gauge"), ("ifType", _IF + "3", "gauge"), ("ifMtu", _IF + "4", "gauge"),
    ("ifSpeed", _IF + "5", "gauge"), ("ifPhysAddress", _IF + "6", "PhysAddress48"),
    ("ifAdminStatus", _IF + "7", "gauge"), ("ifOperStatus", _IF + "8", "gauge"), ("ifLastChange", _IF + "9", "gauge"),
    ("ifInOctets", _IF + "10", "counter"), ("ifInUcastPkts", _IF + "11", "counter"),
    ("ifInNUcastPkts", _IF + "12", "counter"), ("ifInDiscards", _IF + "13", "counter"),
    ("ifInErrors", _IF + "14", "counter"), ("ifInUnknownProtos", _IF + "15", "counter"),
    ("ifOutOctets", _IF + "16", "counter"), ("ifOutUcastPkts", _IF + "17", "counter"),
    ("ifOutNUcastPkts", _IF + "18", "counter"), ("ifOutDiscards", _IF + "19", "counter"),
    ("ifOutErrors", _IF + "20", "counter"), ("ifOutQLen", _IF + "21", "gauge"),
    ("ifInMulticastPkts", _IFX + "2", "counter"), ("ifInBroadcastPkts", _IFX + "3", "counter"),
    ("ifOutMulticastPkts", _IFX + "4", "counter"), ("ifOutBroadcastPkts", _IFX + "5", "counter"),
    ("ifHCInOctets", _IFX + "6", "counter"), ("ifHCInUcastPkts", _IFX + "7", "counter"),
    ("ifHCInMulticastPkts", _IFX + "8", "counter"), ("ifHCInBroadcastPkts", _IFX + "9", "counter"),
    ("ifHCOutOctets", _IFX + "10", "counter"), ("ifHCOutUcastPkts", _IFX + "11", "counter"),
    ("ifHCOutMulticastPkts", _IFX + "12", "counter"), ("ifHCOutBroadcastPkts", _IFX + "13", "counter"),
    ("ifHighSpeed", _IFX + "15", "gauge"), ("ifPromiscuousMode", _IFX + "16", "gauge"),
    ("ifConnectorPresent", _IFX + "17", "gauge"), ("ifCounterDiscontinuityTime", _IFX + "19", "gauge"),
]  # fmt: skip
LOOKUPS = [("ifAlias", _IFX + "18"), ("ifDescr", _IF + "2"), ("ifName", _IFX + "1")]


def exporter_module(community: str) -> dict[str, Any]:
    lookups = [{"labels": ["ifIndex"], "labelname": name, "oid": oid, "type": "DisplayString"} for name, oid in LOOKUPS]
    metrics: list[dict[str, Any]] = [{"name": "sysUpTime", "oid": "1.3.6.1.2.1.1.3", "type": "gauge", "help": "-"}]
    metrics.append({"name": "ifNumber", "oid": "1.3.6.1.2.1.2.1", "type": "gauge", "help": "-"})
    for name, oid, kind in IF_MIB_OBJECTS:
        indexes = [{"labelname": "ifIndex", "type": "gauge"}]
        metrics.append({"name": name, "oid": oid, "type": kind, "help": "-", "indexes": indexes, "lookups": lookups})
    return {
        "walk": IF_TABLE_WALK,
        "get": [SYS_UPTIME],
        "metrics": metrics,
        "version": 2,
        "max_repetitions": MAX_REPETITIONS,
        "retries": 2,
        "timeout": "5s",
        "auth": {"community": community},
    }


def exporter_config(communities: list[str]) -> dict[str, Any]:
    return {f"if_mib_{c}": exporter_module(c) for c in communities}


# -- opsagent serve ---------------------------------------------------------------------------------
def serve_home(
    base: Path, devices: list[tuple[int, str]], interval: int, settings: str = ""
) -> tuple[Path, dict[str, str]]:
    home = base / "home"
    home.mkdir()
    env: dict[str, str] = {}
    assets = []
    for i, (port, community) in enumerate(devices):
        var = f"BENCH_SNMP_{re.sub(r'[^A-Z0-9]', '_', community.upper())}"
        env[var] = community
        assets.append(
            {
                "name": f"dev{i:05d}",
                "kind": "network",
                "address": "127.0.0.1",
                "port": port,
                "credentials": {"snmp": {"community": f"env:{var}"}},
                "collectors": [
                    {"name": "snmp", "profile": "if_mib", "interval": f"{interval}s", "options": {"identify": False}}
                ],
            }
        )
    (home / "inventory.yaml").write_text(yaml.safe_dump({"assets": assets}, sort_keys=False))
    (home / "opsagent.yaml").write_text("seed_inventory: [inventory.yaml]\n" + settings)
    return home, env


def start_serve(home: Path, env: dict[str, str]) -> tuple[Daemon, int]:
    port = free_port()
    full = {**os.environ, **env, "OPSAGENT_HOME": str(home)}
    full.pop("OPSAGENT_STORE", None)
    full.pop("OPSAGENT_CONFIG", None)
    argv = [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"]
    daemon = Daemon("opsagent serve", argv, home / "serve.log", cwd=ROOT, env=full)
    daemon.wait_ready(lambda: wait_port(port, timeout=0.5), timeout=60)
    return daemon, port


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return str(resp.read().decode())


_LINE = re.compile(r'^(\w+)\{[^}]*asset="(dev\d+)"[^}]*\} (\S+)$', re.M)


def per_asset(text: str, name: str) -> dict[str, float]:
    return {m[2]: float(m[3]) for m in _LINE.finditer(text) if m[1] == name}


def wait_steady(port: int, count: int, interval: int, proc: Daemon, rounds: int = 3) -> None:
    """Every device polled successfully once (lookups cached), then one more interval."""
    deadline = time.monotonic() + rounds * interval + 60
    up: dict[str, float] = {}
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"serve exited:\n{proc.log_tail()}")
        up = per_asset(get_text(f"http://127.0.0.1:{port}/metrics?scope=agent"), "opsagent_up")
        if sum(v == 1.0 for v in up.values()) >= count:
            time.sleep(interval)
            return
        time.sleep(5 if count > 100 else 1)
    raise RuntimeError(f"{sum(v == 1.0 for v in up.values())}/{count} devices polled in time:\n{proc.log_tail()}")


# -- bare gufo-snmp (child process) ---------------------------------------------------------------
async def gufo_walks(devices: list[tuple[int, str]], rounds: int, interval: float) -> tuple[float, int, int]:
    from gufo.snmp.aio.client import SnmpSession

    varbinds = polls = 0
    start = time.monotonic()

    async def one(port: int, community: str, at: float) -> int:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        n = 0
        async with SnmpSession("127.0.0.1", port, community=community, timeout=5.0) as session:
            await session.get(SYS_UPTIME)
            for oid in IF_TABLE_WALK:
                it, tries = session.getbulk(oid, max_repetitions=MAX_REPETITIONS), 0
                while True:  # retries as the exporter does (2): the iterator re-sends the same request
                    try:
                        await it.__anext__()
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        tries += 1
                        if tries > 2:
                            return 0
                        continue
                    n += 1
        return n + 1

    cpu0 = time.process_time()
    for r in range(rounds):
        spread = [start + r * interval + i * interval / len(devices) for i in range(len(devices))]
        counts = await asyncio.gather(*(one(p, c, at) for (p, c), at in zip(devices, spread, strict=True)))
        varbinds += sum(counts)
        polls += sum(1 for n in counts if n)
    return time.process_time() - cpu0, polls, varbinds


def gufo_child(spec: str) -> None:
    args = json.loads(spec)
    cpu, polls, varbinds = asyncio.run(
        gufo_walks([tuple(d) for d in args["devices"]], args["rounds"], args["interval"])
    )
    print(json.dumps({"cpu": cpu, "polls": polls, "varbinds": varbinds}))


# -- the measured window ----------------------------------------------------------------------------
async def exporter_rounds(eport: int, devices: list[tuple[int, str]], rounds: int, interval: float) -> tuple[int, int]:
    """Scrape each device once per round, spread over the round; (ok scrapes, varbinds)."""
    start = time.monotonic()
    pdus = re.compile(r"^snmp_scrape_pdus_returned (\S+)$", re.M)

    async def scrape(session: aiohttp.ClientSession, port: int, community: str, at: float) -> int | None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        url = f"http://127.0.0.1:{eport}/snmp?module=if_mib_{community}&target=127.0.0.1:{port}"
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                body = await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        found = pdus.search(body)
        return int(float(found[1])) if resp.status == 200 and found and "ifHCInOctets{" in body else None

    ok = varbinds = 0
    async with aiohttp.ClientSession() as session:
        jobs = [
            scrape(session, p, c, start + r * interval + i * interval / len(devices))
            for r in range(rounds)
            for i, (p, c) in enumerate(devices)
        ]
        for found in await asyncio.gather(*jobs):
            ok += found is not None
            varbinds += found or 0
    return ok, varbinds


async def serve_scrapes(port: int, rounds: int, interval: float) -> list[str]:
    """One ``/metrics`` scrape at the end of each round (as one Prometheus would)."""
    start, texts = time.monotonic(), []
    for r in range(rounds):
        await asyncio.sleep(max(0.0, start + (r + 1) * interval - 0.5 - time.monotonic()))
        texts.append(await asyncio.to_thread(get_text, f"http://127.0.0.1:{port}/metrics"))
    return texts


async def window(
    sport: int, eport: int, devices: list[tuple[int, str]], rounds: int, interval: float
) -> tuple[list[str], tuple[int, int], dict[str, Any]]:
    spec = json.dumps({"devices": devices, "rounds": rounds, "interval": interval})
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--gufo", spec, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    texts, exporter = await asyncio.gather(
        serve_scrapes(sport, rounds, interval), exporter_rounds(eport, devices, rounds, interval)
    )
    out, _ = await child.communicate()
    return texts, exporter, json.loads(out)


def row(name: str, cpu: float, polls: int, varbinds: int) -> tuple[str, float, float]:
    per_device = cpu / max(polls, 1)
    per_varbind = cpu / max(varbinds, 1)
    print(
        f"{name:28} {polls:>6} {varbinds / max(polls, 1):>10.0f} {per_device * 1e3:>10.2f} ms "
        f"{per_varbind * 1e6:>9.2f} µs {cpu:>8.2f} s"
    )
    return name, per_device, per_varbind


def main() -> None:
    devices_n = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    interval = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    base = Path(tempfile.mkdtemp(prefix="opsagent-bench-snmp-"))
    communities = list(RECORDINGS)
    sim = start_snmpsim(base, RECORDINGS, endpoints=devices_n)
    devices = [(p, communities[i % len(communities)]) for i, p in enumerate(sim.ports)]
    (base / "snmp.yml").write_text(yaml.safe_dump(exporter_config(communities), sort_keys=False))
    eport = free_port()
    exporter = Daemon(
        "snmp_exporter",
        ["prometheus-snmp-exporter", f"--config.file={base / 'snmp.yml'}", f"--web.listen-address=127.0.0.1:{eport}"],
        base / "exporter.log",
    )
    home, env = serve_home(base, devices, interval)
    serve: Daemon | None = None
    try:
        exporter.wait_ready(lambda: wait_port(eport, timeout=0.5), timeout=30)
        serve, sport = start_serve(home, env)
        wait_steady(sport, devices_n, interval, serve)
        print(f"load average before: {load()}")
        pids = {"serve": serve.proc.pid, "exporter": exporter.proc.pid, "sim": sim.daemon.proc.pid}
        before = {k: tree_cpu(p) for k, p in pids.items()}
        t0 = time.monotonic()
        texts, (eok, evarbinds), gufo = asyncio.run(window(sport, eport, devices, rounds, interval))
        wall = time.monotonic() - t0
        cpu = {k: tree_cpu(p) - before[k] for k, p in pids.items()}
        print(f"load average after: {load()}")
        up = per_asset(texts[-1], "opsagent_up")
        ours_vb = sum(sum(per_asset(t, "snmp_scrape_pdus_returned").values()) for t in texts)
        ours_polls = rounds * sum(v == 1.0 for v in up.values())
        series = sum(1 for line in texts[-1].splitlines() if line.startswith("if"))
        print(
            f"\n{devices_n} devices (snmpsim, {len(communities)} recordings of real devices), IF-MIB, "
            f"{rounds} rounds of {interval} s ({wall:.1f} s window), nproc={os.cpu_count()}"
        )
        print(f"opsagent exposes {series} IF-MIB series per scrape; simulator CPU {cpu['sim']:.2f} s")
        print(f"{'client':28} {'polls':>6} {'varbinds/poll':>10} {'CPU/device':>13} {'CPU/varbind':>12} {'CPU':>10}")
        ours = row("opsagent serve (whole path)", cpu["serve"], ours_polls, int(ours_vb))
        theirs = row("snmp_exporter 0.21", cpu["exporter"], eok, evarbinds)
        bare = row("bare gufo-snmp (walks only)", gufo["cpu"], gufo["polls"], gufo["varbinds"])
        ratio = ours[1] / theirs[1] if theirs[1] else float("inf")
        print(
            f"ratio opsagent/snmp_exporter CPU per device: {ratio:.2f}"
            f" (goal ≤ 0.50: {'met' if ratio <= 0.5 else 'NOT met'})"
        )
        over = ours[2] / bare[2] if bare[2] else float("inf")
        print(f"opsagent/bare gufo CPU per varbind: {over:.2f} (goal ≤ 1.50: {'met' if over <= 1.5 else 'NOT met'})")
    finally:
        if serve is not None:
            serve.stop()
        exporter.stop()
        sim.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--gufo":
        gufo_child(sys.argv[2])
    else:
        main()
