"""Service-level performance: SLA recomputation for 100,000 open incidents (the pure clocks, the serve
tick on a store: first tick, full recompute after a restart and after a policy change, steady ticks),
and the period report over 100,000 incidents (settled ones counted from the tick's current final
projections, or every event log replayed) — on SQLite (the embedded default) and on a real
PostgreSQL started on 127.0.0.1, beside the same per-dimension counts done by SQLite alone (SQL GROUP
BY, what GLPI/Zammad-style reports run), which has no SLA clocks to compute. Wall and CPU time, and
the load average (uptime): the machine may be shared, so CPU time is the steadier figure.

    python bench/bench_sla.py [--incidents 100000] [--no-postgres]

Goals (issue 8): tick over 100,000 open incidents < 1 s; period report over 100,000 incidents < 5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from opsagent.reports import period as period_report
from opsagent.reports.document import render
from opsagent.sla import escalation, service
from opsagent.sla.batch import ClockBatch
from opsagent.sla.policy import ServiceLevelPolicy, load_policy
from opsagent.store import Store, schema, sqlite_url

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 7, 1, tzinfo=UTC)
QUARTER_END = datetime(2026, 10, 1, tzinfo=UTC)


def make_incident(i: int, rng: random.Random, open_only: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    opened = START + timedelta(seconds=rng.randrange(0, 90 * 86400))
    prio = rng.choice(("P1", "P2", "P2", "P3", "P3", "P3", "P4"))
    events = [{"at": opened, "kind": "opened", "detail": {}}]
    at = opened
    acked = resolved = None
    if rng.random() < 0.8:
        at += timedelta(minutes=rng.randrange(1, 180))
        events.append({"at": at, "kind": "acknowledged", "detail": {}})
        acked = at
    if rng.random() < 0.3:
        at += timedelta(hours=rng.randrange(1, 20))
        events.append({"at": at, "kind": "pending", "detail": {}})
        at += timedelta(hours=rng.randrange(1, 40))
        events.append({"at": at, "kind": "resumed", "detail": {}})
    if not open_only and rng.random() < 0.9:
        at += timedelta(hours=rng.randrange(1, 100))
        events.append({"at": at, "kind": "resolved", "detail": {}})
        resolved = at
    incident = {
        "id": i + 1,
        "fingerprint": f"fp{i}",  # one open incident per fingerprint (unique index, 0012_cluster)
        "alertname": rng.choice(("DiskFull", "LinkDown", "HighLoad", "FanFailure", "TablespaceFull")),
        "source": rng.choice(("rule", "alertmanager")),
        "status": "resolved" if resolved else ("acknowledged" if acked else "open"),
        "title": "t",
        "priority": prio,
        "category": rng.choice(("software", "hardware", "network", "other")),
        "requester_type": rng.choice(("internal", "external")),
        "asset": f"host-{rng.randrange(500)}",
        "resolve_policy": "auto",
        "labels": {"project": rng.choice(("ERP", "OA", "CRM", "MES"))},
        "annotations": {},
        "count": rng.randrange(1, 10),
        "flapping": False,
        "suppressed": [],
        "opened_at": opened,
        "last_fired_at": opened,
        "acknowledged_at": acked,
        "resolved_at": resolved,
        "updated_at": at,
    }
    return incident, events


def _cpu() -> float:
    """CPU of this process and of its ended children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Timer:
    """Wall and CPU time of a block (CPU of this process: SQLite runs in it, PostgreSQL does not)."""

    def __enter__(self) -> Timer:
        self.w0, self.c0 = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w0, _cpu() - self.c0

    def __str__(self) -> str:
        return f"{self.wall:.3f} s wall, {self.cpu:.3f} s CPU"


def bench_tick(n: int) -> None:
    """The pure part of a full recompute, as the tick does it: clocks of every incident from its
    event log (numpy batch), escalations due and next checks; no store."""
    policy = load_policy([ROOT])
    rng = random.Random(7)
    data = [make_incident(i, rng, open_only=True) for i in range(n)]
    logs = [[(e["at"].timestamp(), e["kind"]) for e in events] for _, events in data]  # as the tick reads them
    now = QUARTER_END
    policy.built_calendars["business"].between(START, now)  # build the calendar index outside the timing
    with Timer() as timer:
        batch = ClockBatch(now)
        for (incident, _), log in zip(data, logs, strict=True):
            profile = (incident["priority"], incident["requester_type"], False)
            batch.add(incident["id"], log, profile, policy.budgets(*profile), policy.calendar_for(incident["priority"]))
        escalations = 0
        memo: dict[Any, Any] = {}
        for group in batch.compute():
            for members, _step in escalation.due_many(group.clocks, policy, group.profile[0], {}, now, memo):
                escalations += len(members)
            escalation.next_check_many(group.clocks, policy, group.profile[0], {}, now)
    print(f"full recompute, pure (clocks from the event logs + escalations due + next checks, numpy batch): "
          f"{n:,} open incidents in {timer} ({n / timer.wall:,.0f}/s); {escalations:,} escalations due"
          "   goal < 1 s")  # fmt: skip


def bench_store_tick(store: Store, n: int, label: str, changes: int = 100, ticks: int = 10) -> None:
    """The serve tick over a store of n open incidents: the first tick ever (every clock computed,
    every projection and escalation written), the first tick of a restarted serve (fresh state: the
    stored projections' last event, next check and policy digest say which incidents to recompute),
    then steady ticks 30 s apart with ``changes`` incidents getting an event between ticks."""
    policy = load_policy([ROOT])
    fill_store(store, n, open_only=True)
    moment = QUARTER_END
    with Timer() as first:
        fired = service.tick(store, policy, moment, service.TickState())
    state = service.TickState()
    with Timer() as restart:
        service.tick(store, policy, moment + timedelta(seconds=1), state)
    data = policy.model_dump()
    data["targets"]["P3"]["internal"]["resolution"] = "4wd"  # a reload with another P3 target
    with Timer() as one_target:
        service.tick(store, ServiceLevelPolicy.model_validate(data), moment + timedelta(seconds=2), service.TickState())
    data["escalation"]["levels"][0]["at"] = "40%"  # and another escalation level: every incident's clocks
    with Timer() as reloaded:
        service.tick(store, ServiceLevelPolicy.model_validate(data), moment + timedelta(seconds=3), service.TickState())
    state = service.TickState()
    service.tick(store, policy, moment + timedelta(seconds=4), state)  # back to the first policy
    rng = random.Random(3)
    steady: list[Timer] = []
    recomputed = 0
    for k in range(ticks):
        moment += timedelta(seconds=30)
        for incident_id in rng.sample(range(1, n + 1), changes):
            with store.transaction() as conn:
                conn.execute(insert(schema.incident_events).values(
                    incident_id=incident_id, at=moment - timedelta(seconds=1), kind="updated", actor="bench",
                    message="", detail={}))  # fmt: skip
        with Timer() as timer:
            service.tick(store, policy, moment, state)
        steady.append(timer)
        recomputed += changes if k else 0
    wall = sorted(t.wall for t in steady)
    cpu = sorted(t.cpu for t in steady)
    print(f"serve tick on {label}, {n:,} open incidents:")
    print(f"  first tick ever (all clocks, {n:,} projections + {len(fired):,} escalation events written): {first}")
    print(f"  first tick after a restart (stored projections checked, only stale incidents recomputed): {restart}"
          "   goal < 1 s")  # fmt: skip
    print(f"  tick after a reload that changes one target (P3 internal resolution: those incidents recomputed and "
          f"rewritten): {one_target}")  # fmt: skip
    print(f"  tick after a reload that changes escalation (every clock recomputed, every projection rewritten): "
          f"{reloaded}")  # fmt: skip
    mid = len(wall) // 2
    print(f"  steady tick, {changes} incidents changed per tick, {ticks} ticks: median {wall[mid]:.3f} s wall / "
          f"{cpu[mid]:.3f} s CPU, max {wall[-1]:.3f} s wall / {cpu[-1]:.3f} s CPU   goal < 1 s")  # fmt: skip


def fill_store(store: Store, n: int, open_only: bool = False) -> None:
    rng = random.Random(11)
    with store.transaction() as conn:
        conn.execute(
            insert(schema.assets),
            [{"name": f"host-{k}", "kind": rng.choice(("host", "network", "database")), "description": "", "groups": [],
              "tags": [], "vars": {}, "collectors": [], "credentials": {}, "source": "bench",
              "created_at": START, "updated_at": START} for k in range(500)],
        )  # fmt: skip
        batch_i: list[dict[str, Any]] = []
        batch_e: list[dict[str, Any]] = []
        for i in range(n):
            incident, events = make_incident(i, rng, open_only=open_only)
            batch_i.append(incident)
            batch_e += [{"incident_id": incident["id"], "actor": "x", "message": "", **e} for e in events]
            if len(batch_i) >= 5000:
                conn.execute(insert(schema.incidents), batch_i)
                conn.execute(insert(schema.incident_events), batch_e)
                batch_i, batch_e = [], []
        if batch_i:
            conn.execute(insert(schema.incidents), batch_i)
            conn.execute(insert(schema.incident_events), batch_e)


def sql_baseline(store: Store) -> float:
    t = schema.incidents.c
    t0 = time.perf_counter()
    with store.engine.connect() as conn:
        period = (t.opened_at >= START) & (t.opened_at < QUARTER_END)
        for column in (t.category, t.asset, t.priority, t.source, t.alertname):
            conn.execute(select(column, func.count()).where(period).group_by(column)).all()
        conn.execute(select(func.avg(func.julianday(t.resolved_at) - func.julianday(t.opened_at))).where(period)).all()
    return time.perf_counter() - t0


def settle(store: Store, policy: ServiceLevelPolicy, moment: datetime) -> tuple[int, float, float]:
    """serve's ticks until every settled incident has its final projection: (ticks, CPU, max CPU)."""
    state = service.TickState()
    ticks, cpu, worst = 0, 0.0, 0.0
    while state.settling != [] and ticks < 1000:
        with Timer() as timer:
            service.tick(store, policy, moment, state)
        ticks, cpu, worst = ticks + 1, cpu + timer.cpu, max(worst, timer.cpu)
        moment += timedelta(seconds=30)
    return ticks, cpu, worst


def bench_period(store: Store, n: int, label: str) -> None:
    policy = load_policy([ROOT])
    fill_store(store, n)
    report_at = QUARTER_END + timedelta(days=30)
    ticks, cpu, worst = settle(store, policy, report_at - timedelta(days=1))
    print(f"period report on {label}, {n:,} incidents; before it serve's ticks settled the final projections: "
          f"{ticks} ticks, {cpu:.3f} s CPU in all, at most {worst:.3f} s CPU per tick")  # fmt: skip
    for projections, how in ((True, "settled outcomes from current projections, the rest replayed"),
                             (False, "every event log replayed")):  # fmt: skip
        with Timer() as loaded:
            stats = period_report.load_stats(store, policy, START, QUARTER_END, report_at, projections=projections)
        with Timer() as rendered:
            html = render(period_report.build(stats, "zh", policy.built_calendars["business"].tz, report_at), "html")
        total = loaded.wall + rendered.wall
        print(f"  {how} (load + stats + zh HTML with charts): {stats.total:,} incidents in {total:.3f} s wall, "
              f"{loaded.cpu + rendered.cpu:.3f} s CPU (load + stats {loaded}; render {rendered}; {len(html):,} bytes)"
              "   goal < 5 s")  # fmt: skip
    if label == "SQLite":
        print(f"  beside: SQL GROUP BY counts + mean TTR in SQLite alone (no SLA clocks): {sql_baseline(store):.3f} s")


def on_sqlite(run: Any, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(sqlite_url(Path(tmp) / "bench.db"))
        try:
            run(store, n, "SQLite")
        finally:
            store.close()


def on_postgres(run: Any, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.peers.postgres import start_postgres  # a real server on 127.0.0.1, as the tests start it

    server = start_postgres()
    try:
        server.create_database("bench_sla")
        store = Store(server.url("bench_sla"))
        try:
            run(store, n, "PostgreSQL (CPU: this process only)")
        finally:
            store.close()
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite (the embedded default) only")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; before: {uptime()}")
    bench_tick(args.incidents)
    on_sqlite(bench_store_tick, args.incidents)
    on_sqlite(bench_period, args.incidents)
    if not args.no_postgres:
        on_postgres(bench_store_tick, args.incidents)
        on_postgres(bench_period, args.incidents)
    print(f"after: {uptime()}")


if __name__ == "__main__":
    main()
