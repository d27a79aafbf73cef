"""SNMP polling: client CPU per device and wall time per round, opsagent beside net-snmp's
``snmpbulkwalk`` and Prometheus's ``snmp_exporter``, in the same run, against the same agents.

N simulated devices = N UDP endpoints of one snmpsim process serving the recording of a real
48-port Cisco C3560 (57 interfaces). Every client walks the same IF-MIB (ifTable + ifXTable
columns of the ``if_mib`` profile, with ifName/ifDescr/ifAlias lookups); the snmp_exporter module
is generated from that same profile. The simulator (Python) bounds wall time here, not the clients.

Run: ``.venv/bin/python bench/bench_snmp.py [devices] [rounds]``. Prints figures next to the goals
(client CPU per device ≤ snmp_exporter's; 1,000 devices within 60 s on 2 cores); asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from opsagent.collectors.snmp import SnmpCollector  # noqa: E402
from opsagent.collectors.snmp.options import SnmpOptions  # noqa: E402
from opsagent.gctune import tune_for_polling  # noqa: E402
from opsagent.inventory.model import Asset, CollectorSpec  # noqa: E402
from tests.peers.ports import free_port, wait_port  # noqa: E402
from tests.peers.process import Daemon  # noqa: E402
from tests.peers.snmp import start_snmpsim  # noqa: E402

COMMUNITY = "cisco-c3560"
RECORDING = {COMMUNITY: "network/switch/cisco-c3560"}


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def if_mib() -> SnmpOptions:
    data = yaml.safe_load((ROOT / "collectors/snmp/if_mib.yaml").read_text())
    return SnmpOptions.model_validate(data["options"])


def columns(opts: SnmpOptions) -> list[str]:
    cols = {m.oid for m in opts.metrics if m.indexes} | {lk.oid for m in opts.metrics for lk in m.lookups}
    return sorted(cols)


async def opsagent_round(ports: list[int]) -> tuple[float, float, int]:
    collector = SnmpCollector()
    spec = CollectorSpec(name="snmp", interval=60, options={"include": ["if_mib"], "identify": False, "timeout": 10})
    assets = [
        Asset(name=f"d{p}", address="127.0.0.1", port=p, credentials={"snmp": {"community": "env:BENCH_COMMUNITY"}})
        for p in ports
    ]
    rounds = []
    for _ in range(2):  # first round fills the lookup caches; the second is the steady state
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(collector.collect(a, spec, {}) for a in assets))
        rounds.append((time.process_time() - cpu0, time.perf_counter() - t0, sum(r.ok for r in results)))
    return rounds[1]


def bulkwalk_round(ports: list[int], cols: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    ok = 0
    for i in range(0, len(ports), 8):  # 8 devices at a time, columns of one device in sequence
        procs = []
        for port in ports[i : i + 8]:
            argv = ["snmpbulkwalk", "-v2c", "-c", COMMUNITY, "-On", "-Cr25", "-t", "10", f"127.0.0.1:{port}"]
            script = " && ".join(" ".join([*argv, c]) + " >/dev/null" for c in cols)
            procs.append(subprocess.Popen(["sh", "-c", script], env=env))
        ok += sum(p.wait() == 0 for p in procs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return cpu, time.perf_counter() - t0, ok


def exporter_config(opts: SnmpOptions) -> dict[str, Any]:
    metrics = []
    for m in opts.metrics:
        if not m.indexes:
            continue
        entry: dict[str, Any] = {"name": m.name, "oid": m.oid, "type": m.type, "help": m.help or m.name}
        entry["indexes"] = [{"labelname": i.labelname, "type": i.type} for i in m.indexes]
        entry["lookups"] = [
            {"labels": lk.labels, "labelname": lk.labelname, "oid": lk.oid, "type": lk.type} for lk in m.lookups
        ]
        metrics.append(entry)
    walk = sorted({m["oid"] for m in metrics} | {lk["oid"] for m in metrics for lk in m["lookups"]})
    module = {"walk": walk, "metrics": metrics, "version": 2, "max_repetitions": 25, "retries": 1, "timeout": "10s"}
    module["auth"] = {"community": COMMUNITY}
    return {"if_mib": module}


async def exporter_round(port: int, pid: int, ports: list[int]) -> tuple[float, float, int]:
    async def scrape(session: aiohttp.ClientSession, target: int) -> bool:
        url = f"http://127.0.0.1:{port}/snmp?module=if_mib&target=127.0.0.1:{target}"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=300)) as resp:
            body = await resp.text()
            return resp.status == 200 and "ifHCInOctets{" in body

    async with aiohttp.ClientSession() as session:
        cpu0, t0 = proc_cpu(pid), time.perf_counter()
        oks = await asyncio.gather(*(scrape(session, p) for p in ports))
        return proc_cpu(pid) - cpu0, time.perf_counter() - t0, sum(oks)


def main() -> None:
    devices = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tune_for_polling()  # as `opsagent serve` does
    base = Path(tempfile.mkdtemp(prefix="opsagent-bench-snmp-"))
    sim = start_snmpsim(base, RECORDING, endpoints=devices)
    os.environ["BENCH_COMMUNITY"] = COMMUNITY
    opts = if_mib()
    (base / "snmp.yml").write_text(yaml.safe_dump(exporter_config(opts), sort_keys=False))
    eport = free_port()
    exporter = Daemon(
        "snmp_exporter",
        ["prometheus-snmp-exporter", f"--config.file={base / 'snmp.yml'}", f"--web.listen-address=127.0.0.1:{eport}"],
        base / "exporter.log",
    )
    try:
        exporter.wait_ready(lambda: wait_port(eport, timeout=0.5), timeout=30)
        rows = [
            ("opsagent (gufo-snmp)", asyncio.run(opsagent_round(sim.ports))),
            ("snmpbulkwalk (net-snmp)", bulkwalk_round(sim.ports, columns(opts))),
            ("snmp_exporter", asyncio.run(exporter_round(eport, exporter.proc.pid, sim.ports))),
        ]
        print(f"{devices} devices (snmpsim, Cisco C3560 recording, 57 interfaces), IF-MIB walk, one round each")
        print(f"{'client':26} {'ok':>5} {'CPU s/device':>14} {'wall s/round':>13} {'devices/60s/core (CPU bound)':>30}")
        for name, (cpu, wall, ok) in rows:
            per = cpu / max(ok, 1)
            print(f"{name:26} {ok:>5} {per * 1000:>11.2f} ms {wall:>13.2f} {60 / per if per else float('inf'):>30.0f}")
        ours, theirs = rows[0][1][0] / max(rows[0][1][2], 1), rows[2][1][0] / max(rows[2][1][2], 1)
        verdict = "met" if ours <= theirs else "NOT met"
        print(f"goal CPU/device ≤ snmp_exporter: {verdict} ({ours * 1e3:.2f} vs {theirs * 1e3:.2f} ms)")
        print(
            f"goal 1,000 devices/60 s on 2 cores (client CPU): {'met' if 2 * 60 / ours >= 1000 else 'NOT met'}"
            f" (≈{2 * 60 / ours:.0f} devices)"
        )
    finally:
        exporter.stop()
        sim.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
