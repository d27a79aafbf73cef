"""Service-level performance: SLA recomputation for 100,000 open incidents (one tick), and the period
report over 100,000 incidents in a SQLite store — beside, in the same run, the same per-dimension
counts done by the database alone (SQL GROUP BY, what GLPI/Zammad-style reports run), which has no
SLA clocks to compute.

    python bench/bench_sla.py [--incidents 100000]

Goals (issue 8): tick over 100,000 open incidents < 1 s; period report over 100,000 incidents < 5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from opsagent.reports import period as period_report
from opsagent.reports.document import render
from opsagent.sla import service
from opsagent.sla.clock import incident_clocks
from opsagent.sla.escalation import done_levels, due
from opsagent.sla.policy import load_policy
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
        "fingerprint": f"fp{i % 5000}",
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


def bench_tick(n: int) -> float:
    policy = load_policy([ROOT])
    rng = random.Random(7)
    data = [make_incident(i, rng, open_only=True) for i in range(n)]
    now = QUARTER_END
    policy.built_calendars["business"].between(START, now)  # build the calendar index outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    escalations = 0
    memo: dict[str, str] = {}
    for incident, events in data:
        clocks = incident_clocks(incident, events, policy, now)
        escalations += len(due(clocks, policy, incident["priority"], done_levels(events), now, memo))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"SLA tick (pure recompute + escalation check): {n:,} open incidents in {elapsed:.3f} s wall, "
          f"{cpu:.3f} s CPU ({n / elapsed:,.0f}/s); {escalations:,} escalations due   goal < 1 s")  # fmt: skip
    return elapsed


def bench_store_tick(n: int) -> None:
    """The serve tick against a SQLite store of n open incidents: cold (every clock recomputed,
    projections written, escalations recorded) and then warm (nothing changed since)."""
    policy = load_policy([ROOT])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(sqlite_url(Path(tmp) / "tick.db"))
        try:
            fill_store(store, n, open_only=True)
            state = service.TickState()
            moment = QUARTER_END
            t0 = time.perf_counter()
            fired = service.tick(store, policy, moment, state)
            cold = time.perf_counter() - t0
            service.tick(store, policy, moment + timedelta(seconds=1), state)  # settles our own escalated events
            t0 = time.perf_counter()
            fired2 = service.tick(store, policy, moment + timedelta(seconds=30), state)
            warm = time.perf_counter() - t0
        finally:
            store.close()
    print(f"serve tick on SQLite, {n:,} open incidents: cold {cold:.3f} s ({len(fired):,} escalations recorded), "
          f"next tick {warm:.3f} s ({len(fired2):,} new)   goal < 1 s")  # fmt: skip


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


def bench_period(n: int) -> tuple[float, float]:
    policy = load_policy([ROOT])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(sqlite_url(Path(tmp) / "bench.db"))
        try:
            fill_store(store, n)
            t0 = time.perf_counter()
            stats = period_report.load_stats(store, policy, START, QUARTER_END, QUARTER_END + timedelta(days=30))
            loaded = time.perf_counter() - t0
            html = render(period_report.build(stats, "zh", policy.built_calendars["business"].tz, QUARTER_END), "html")
            ours = time.perf_counter() - t0
            baseline = sql_baseline(store)
        finally:
            store.close()
    print(f"period report (load + SLA from event log + stats + zh HTML with charts): {stats.total:,} incidents in "
          f"{ours:.3f} s (store load + stats {loaded:.3f} s; {len(html):,} bytes)   goal < 5 s")  # fmt: skip
    print(f"  beside: SQL GROUP BY counts + mean TTR in SQLite alone (no SLA clocks): {baseline:.3f} s")
    return ours, baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    bench_tick(args.incidents)
    bench_store_tick(args.incidents)
    bench_period(args.incidents)


if __name__ == "__main__":
    main()
