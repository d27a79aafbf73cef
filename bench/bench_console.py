"""Console page times with a full store: 100,000 tickets (with events), 10,000 assets (with facts) and
1,000 runbook runs, filled by bulk inserts (bench/console_data.py); then a real ``opsagent serve`` on it
and 20 concurrent signed-in sessions (each logged in through ``POST /login``, holding its own session
cookie) asking for the queue (plain, with filters, with a search), ticket pages and asset pages, mixed
at random with the JSON API's answers for the same data (``/api/v1/incidents``, ``/api/v1/incidents/ID``,
``/api/v1/assets/NAME``). Printed per kind: p50/p95/p99 of the server's own time (its ``Server-Timing``
header: authentication, store reads, rendering) and the p95 the client saw — on SQLite, then on a real
PostgreSQL started on 127.0.0.1 as the tests start it. The load average is printed before and after:
the machine may be shared, and the client shares its cores with the server.

    python bench/bench_console.py [--tickets 100000] [--assets 10000] [--runs 1000]
                                  [--sessions 20] [--requests 300] [--no-postgres] [--explain] [--profile DIR]

Goal (issue 23): p95 server time < 150 ms for the queue, ticket and asset pages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.console_data import Sample, fill, settle  # noqa: E402
from opsagent.config import shipped_content_root  # noqa: E402
from opsagent.store import Store, sqlite_url  # noqa: E402
from tests.e2e.agent import agent_env, serving  # noqa: E402

USER, PASSWORD = "bench", "Bench-pass-0001"
GOAL_MS = 150.0
TIMING = re.compile(r"app;dur=([0-9.]+)")
PAGES = ("queue", "queue filtered", "queue search", "ticket", "asset")
QUEUE_PAGE = 50  # the queue's page: the JSON list is asked for as many


def kinds(sample: Sample, rng: random.Random) -> dict[str, Callable[[], str]]:
    """Each kind of request, as a maker of random paths drawn from the filled store's values."""
    return {
        "queue": lambda: "/console/queue",
        "queue filtered": lambda: rng.choice((
            f"/console/queue?status=all&asset={rng.choice(sample.assets)}",
            f"/console/queue?assignee={rng.choice(sample.assignees)}&priority={rng.choice(('P1', 'P2', 'P3'))}",
            "/console/queue?status=closed&source=desk&type=service_request",
            "/console/queue?status=open&priority=P1",
        )),
        "queue search": lambda: rng.choice((
            f"/console/queue?q={quote(rng.choice(sample.searches))}",
            f"/console/queue?status=all&q={quote(rng.choice(sample.searches))}",
            "/console/queue?status=all&q=no-such-words",
        )),
        "ticket": lambda: f"/console/incidents/{rng.choice(sample.ticket_ids)}",
        "asset": lambda: f"/console/assets/{rng.choice(sample.assets)}",
        "json incidents": lambda: f"/api/v1/incidents?limit={QUEUE_PAGE}",
        "json incident": lambda: f"/api/v1/incidents/{rng.choice(sample.ticket_ids)}",
        "json asset": lambda: f"/api/v1/assets/{rng.choice(sample.assets)}",
    }  # fmt: skip


async def sign_in(base: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    form = {"username": USER, "password": PASSWORD, "next": "/console"}
    async with session.post("/login", data=form, allow_redirects=False) as resp:
        if resp.status != 303 or not session.cookie_jar.filter_cookies(aiohttp.client.URL(base)):
            raise SystemExit(f"login failed: {resp.status} {await resp.text()}")
    return session


Times = tuple[float, float]  # server ms, client ms


@dataclass
class Figures:
    times: list[Times]  # (server ms, client ms) per request
    cpu: float  # serve's CPU seconds for the phase
    wall: float


async def phase(
    clients: list[aiohttp.ClientSession], make: Callable[[], str], requests: int
) -> list[tuple[float, float]]:
    """``requests`` asks shared by the signed-in clients, all at once: (server ms, client ms) each."""
    found: list[Times] = []
    left = requests

    async def one(client: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            path = make()
            started = time.perf_counter()
            async with client.get(path, allow_redirects=False) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{path}: {resp.status}")
                server = TIMING.search(resp.headers.get("Server-Timing", ""))
            client_ms = (time.perf_counter() - started) * 1000
            found.append((float(server.group(1)) if server else float("nan"), client_ms))

    await asyncio.gather(*(one(c) for c in clients))
    return found


async def drive(
    base: str, pid: int, sample: Sample, sessions: int, per_kind: int, profile: Path | None = None
) -> dict[str, Figures]:
    """Each kind in turn, asked ``per_kind`` times by ``sessions`` clients signed in through /login."""
    clients = [await sign_in(base) for _ in range(sessions)]
    out: dict[str, Figures] = {}
    try:
        for kind, make in kinds(sample, random.Random(7)).items():
            await phase(clients, make, sessions)  # warm-up: compiled statements, templates
            spy = profiler(pid, profile / f"{kind.replace(' ', '-')}.txt") if profile else None
            cpu, started = serve_cpu(pid), time.perf_counter()
            times = await phase(clients, make, per_kind)
            out[kind] = Figures(times, serve_cpu(pid) - cpu, time.perf_counter() - started)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
    finally:
        for client in clients:
            await client.close()
    return out


def profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling serve over one kind's phase, as collapsed stacks in ``out``, stopped when the phase
    ends: the thread holding the GIL only (``--gil``; py-spy took threads waiting for a worker queue or
    the GIL as busy). Sampling pauses serve briefly: quote figures from runs without ``--profile``."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    argv = [spy, "record", "-p", str(pid), "-r", "200", "--threads", "--gil", "-f", "raw", "-o", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the phase starts
    return proc


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def report(found: dict[str, Figures]) -> None:
    print(f"  {'':16s} {'':>5s}   {'server time, ms':^22s}   {'client ms':>9s}   {'serve CPU':>9s}")
    print(f"  {'kind':16s} {'n':>5s}   {'p50':>6s} {'p95':>7s} {'p99':>7s}   {'p95':>9s}   {'ms/req':>9s}   goal")
    for kind, fig in found.items():
        server = [x for x, _ in fig.times]
        p95 = pct(server, 95)
        goal = ("ok" if p95 < GOAL_MS else "MISSED") if kind in PAGES else ""
        print(f"  {kind:16s} {len(server):5d}   {pct(server, 50):6.1f} {p95:7.1f} {pct(server, 99):7.1f}   "
              f"{pct([c for _, c in fig.times], 95):9.1f}   {fig.cpu / len(server) * 1000:9.1f}   {goal}")  # fmt: skip


def serve_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quiet(pid: int, limit: float = 120.0) -> float:
    """Wait until serve's start-up work (first SLA tick, search index) is done: < 5 % CPU for 2 s."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = serve_cpu(pid)
        time.sleep(2)
        if serve_cpu(pid) - before < 0.1:
            break
    return time.monotonic() - started


EXPLAINED = {  # the queue pages the bench asks for, as filters
    "active (the default)": {},
    "all, one asset": {"status": "all", "asset": "ASSET"},
    "active, assignee + priority": {"assignee": "lisi", "priority": "P2"},
    "closed desk service requests": {"status": "closed", "source": "desk", "type": "service_request"},
    "all, search": {"status": "all", "q": "打印机"},
    "all, search finding nothing": {"status": "all", "q": "no-such-words"},
}


def explain(store: Store, sample: Sample) -> None:
    """The plan and time of each queue page's statement, from the store's own EXPLAIN."""
    from opsagent.web.queries import QUEUE_LIMIT, QueueFilter, _search_floor, queue_query

    pg = store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        for label, wanted in EXPLAINED.items():
            f = QueueFilter.of({k: v.replace("ASSET", sample.assets[0]) for k, v in wanted.items()})
            query = queue_query(f, QUEUE_LIMIT + 1, _search_floor(conn, f), desk=True)
            sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
            if pg:
                lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + sql)]
                plan = " | ".join(x.strip() for x in lines if "Planning" not in x and "Rows Removed" not in x)
            else:
                started = time.perf_counter()
                conn.exec_driver_sql(sql).all()
                took = (time.perf_counter() - started) * 1000
                plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)) + f" ({took:.1f} ms)"
            print(f"    {label:30s} {plan}")


def prepare(home: Path, url: str, args: argparse.Namespace) -> Sample:
    (home / "opsagent.yaml").write_text("auth:\n  argon2: {time_cost: 1, memory_kib: 8192, parallelism: 1}\n")
    started = time.perf_counter()
    store = Store(url)
    try:
        sample = fill(store, tickets=args.tickets, assets=args.assets, runs=args.runs)
        filled = time.perf_counter()
        ticks = settle(store, [shipped_content_root()])
        if args.explain:
            print("  queue statements:")
            explain(store, sample)
    finally:
        store.close()
    print(f"  filled in {filled - started:.1f} s: {args.tickets:,} tickets, {args.assets:,} assets, "
          f"{args.runs:,} runbook runs; SLA projections made current by {ticks} ticks in "
          f"{time.perf_counter() - filled:.1f} s (as a running serve keeps them)")  # fmt: skip
    add = [sys.executable, "-m", "opsagent", "user", "add", USER, "--role", "engineer", "--password-ref", "env:PW"]
    env = agent_env(home) | {"OPSAGENT_STORE": url, "PW": PASSWORD, "PYTHONPATH": str(ROOT)}
    subprocess.run(add, env=env, check=True, capture_output=True, timeout=120)
    return sample


def run(url: str, label: str, args: argparse.Namespace) -> None:
    print(f"\n{label}")
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        home = Path(tmp)
        sample = prepare(home, url, args)
        with serving(home, {"OPSAGENT_STORE": url, "PYTHONPATH": str(ROOT)}) as (proc, port, _log):
            print(f"  serve quiet after {quiet(proc.pid):.0f} s; load: {uptime()}")
            base, profile = f"http://127.0.0.1:{port}", Path(args.profile) if args.profile else None
            if profile:
                profile.mkdir(parents=True, exist_ok=True)
            found = asyncio.run(drive(base, proc.pid, sample, args.sessions, args.requests, profile))
            wall = sum(f.wall for f in found.values())
            print(f"  {args.requests} requests of each kind by {args.sessions} sessions in {wall:.1f} s; "
                  f"load: {uptime()}")  # fmt: skip
        report(found)


@contextmanager
def postgres_url() -> Iterator[str]:
    from tests.peers.postgres import start_postgres  # a real server on 127.0.0.1, as the tests start it

    server = start_postgres()
    try:
        server.create_database("bench_console")
        yield server.url("bench_console")
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


def uptime() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__().replace("'", "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--requests", type=int, default=300, help="of each kind")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite (the embedded default) only")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--profile", help="py-spy's stacks of serve (GIL holder), a file per kind, here")
    parser.add_argument("--explain", action="store_true", help="print the plan of each queue page's statement")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average (1, 5, 15 min): {uptime()}")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-console-db-") as tmp:
            run(sqlite_url(Path(tmp) / "console.db"), "SQLite", args)
    if not args.no_postgres:
        with postgres_url() as url:
            run(url, "PostgreSQL 15", args)
    print(f"\nload average after: {uptime()}")


if __name__ == "__main__":
    main()
