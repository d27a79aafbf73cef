"""Ticket creation through the JSON API of a real ``opsagent serve`` (SQLite store): ``POST /api/v1/tickets``
— a requester looked up by email, routing, contract coverage, the incident row, its opened event,
service record and intake details in one transaction — printed beside the baseline of the same run:
the same number of new incidents opened through the Alertmanager webhook (``POST /api/v1/alertmanager``,
one new alert per request).

    python bench/bench_tickets.py [--seconds 8] [--concurrency 16]

Goal (issue 21): >= 500 tickets/s sustained on SQLite (2 cores; the client shares them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.peers.ports import free_port  # noqa: E402

TOKEN = "bench-tickets-token"


def start(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    (home / "token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(f"api_token_ref: 'file:{home / 'token'}'\n")
    env = os.environ | {"OPSAGENT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("OPSAGENT_STORE", None)
    env.pop("OPSAGENT_CONFIG", None)
    add = [sys.executable, "-m", "opsagent", "desk", "requester", "add", "张三", "--email", "zhang@example.com"]
    subprocess.run(add, env=env, check=True, capture_output=True)
    port = free_port()
    log = (home / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not start:\n" + (home / "serve.log").read_text()[-2000:])


def ticket_body(n: int) -> dict[str, Any]:
    return {"title": f"打印机无法打印 #{n}", "channel": "phone", "category": "hardware", "subcategory": "printer",
            "requester": {"email": "zhang@example.com"}, "impact": "medium", "urgency": "medium",
            "symptom": "卡纸", "promises": "今天下午上门"}  # fmt: skip


def alert_body(n: int) -> dict[str, Any]:
    labels = {"alertname": "BenchDown", "asset": f"host{n}", "severity": "warning"}
    return {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": labels,
            "annotations": {"summary": f"host{n} down"}}]}  # fmt: skip


async def drive(port: int, path: str, body: Callable[[int], dict[str, Any]], seconds: float, workers: int) -> int:
    numbers = count()
    done = 0
    end = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < end:
                async with session.post(path, json=body(next(numbers))) as resp:
                    await resp.read()
                    if resp.status not in (200, 201):
                        raise SystemExit(f"{path}: {resp.status} {await resp.text()}")
                done += 1

        await asyncio.gather(*(worker() for _ in range(workers)))
    return done


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.seconds:g} s each, {args.concurrency} clients")
    rows = []
    for name, path, body in (("tickets  POST /api/v1/tickets", "/api/v1/tickets", ticket_body),
                             ("baseline POST /api/v1/alertmanager", "/api/v1/alertmanager", alert_body)):  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
            proc, port = start(Path(tmp))
            try:
                asyncio.run(drive(port, path, body, 1.0, args.concurrency))  # warm up
                cpu0, client0, t0 = server_cpu(proc.pid), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
                n = asyncio.run(drive(port, path, body, args.seconds, args.concurrency))
                wall = time.monotonic() - t0
                cpu = server_cpu(proc.pid) - cpu0
                client = resource.getrusage(resource.RUSAGE_SELF)
                client_cpu = client.ru_utime + client.ru_stime - client0.ru_utime - client0.ru_stime
            finally:
                proc.terminate()
                proc.wait(30)
        rows.append((name, n, n / wall, cpu / n * 1000, client_cpu))
    print(f"{'':36} {'requests':>9} {'per s':>8} {'server ms CPU/req':>18} {'client CPU s':>13}")
    for name, n, rate, ms, client_cpu in rows:
        print(f"{name:36} {n:9d} {rate:8.0f} {ms:18.2f} {client_cpu:13.1f}")
    print(f"goal: >= 500 tickets/s sustained — {'met' if rows[0][2] >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
