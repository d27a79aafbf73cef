"""What an asset's console page shows beside its facts: the fact history, the latest metrics with a
small trend (an inline SVG sparkline of the points the agent keeps in memory for its alert rules), the
configuration revisions with their diffs, its tickets and its runbook runs. Plain functions over the
store and the series history; the template escapes every text (names, labels, values, config lines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from opsagent.metrics import MetricsRegistry
from opsagent.series import Series
from opsagent.store import inventory_repo, schema
from opsagent.store.engine import Store, as_utc
from opsagent.web import queries

MAX_SERIES = 200
SPARK_POINTS = 60
SPARK_W, SPARK_H = 120, 24
REVISIONS = 5
MAX_DIFF = 400  # lines of one diff shown
RUNS = 20


def sparkline(values: Sequence[float], width: int = SPARK_W, height: int = SPARK_H) -> str:
    """SVG polyline points (``x,y x,y …``, numbers only) of at most :data:`SPARK_POINTS` values,
    scaled to the box; '' for fewer than two finite points."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    if len(finite) < 2:
        return ""
    step = max(1, -(-len(finite) // SPARK_POINTS))
    points = finite[::step]
    if points[-1] is not finite[-1]:
        points.append(finite[-1])
    lo, hi = min(points), max(points)
    span = (hi - lo) or 1.0
    dx = width / (len(points) - 1)
    return " ".join(f"{i * dx:.1f},{height - 1 - (v - lo) / span * (height - 2):.1f}" for i, v in enumerate(points))


def _owned_by(asset: str) -> Any:
    def wanted(producer: object) -> bool:
        if not isinstance(producer, tuple):
            return False
        return (len(producer) == 2 and producer[0] == asset) or (
            len(producer) == 3 and producer[0] == "self" and producer[1] == asset
        )

    return wanted


def _metric(series: Series) -> dict[str, Any]:
    values = list(series.vs)
    labels = {k: v for k, v in series.labels.items() if k != "asset"}
    return {"name": series.name, "labels": labels, "value": values[-1] if values else None,
            "points": sparkline(values), "count": len(values)}  # fmt: skip


def metrics(registry: MetricsRegistry, asset: str) -> list[dict[str, Any]]:
    found = registry.history.of_producers(_owned_by(asset))
    found.sort(key=lambda s: (s.name, s.key))
    return [_metric(s) for s in found[:MAX_SERIES] if s.vs]


def fact_history(store: Store, asset: str, limit: int = 100) -> list[dict[str, Any]]:
    return [
        {"key": c.key, "old": c.old, "new": c.new, "collector": c.collector, "at": c.at}
        for c in inventory_repo.fact_history(store, asset, limit=limit)
    ]


def _diff_lines(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines()[:MAX_DIFF]
    kind = {"+": "add", "-": "del", "@": "hunk"}
    return [(kind.get(line[:1], "same") if not line.startswith(("+++", "---")) else "file", line) for line in lines]


def revisions(store: Store, asset: str) -> list[dict[str, Any]]:
    """The newest :data:`REVISIONS` configuration revisions, each with its diff from the one before."""
    from opsagent.netcli.backup import version_text, versions
    from opsagent.netcli.configtext import unified

    rows = versions(store, asset)
    out = []
    for row in rows[:REVISIONS]:
        rev = int(row["rev"])
        text = version_text(store, asset, rev) or ""
        before = version_text(store, asset, rev - 1) if rev > 1 else None
        diff = unified(before, text, f"rev {rev - 1}", f"rev {rev}") if before is not None else ""
        out.append(row | {"diff": _diff_lines(diff), "first": before is None})
    return out


def tickets(store: Store, asset: str) -> list[dict[str, Any]]:
    return queries.queue(store, queries.QueueFilter(status="all", asset=asset), limit=50).rows


def runs(store: Store, asset: str) -> list[dict[str, Any]]:
    r, t = schema.runbook_runs.c, schema.runbook_targets.c
    query = (
        select(r.id, r.runbook, r.kind, r.trigger, r.actor, r.started_at, t.status)
        .select_from(schema.runbook_runs.join(schema.runbook_targets, t.run_id == r.id))
        .where(t.asset == asset)
        .order_by(r.id.desc())
        .limit(RUNS)
    )
    with store.engine.connect() as conn:
        return [dict(row._mapping) | {"started_at": as_utc(row.started_at)} for row in conn.execute(query)]


def gather(store: Store, asset: str) -> dict[str, Any]:
    """Everything of the store at once (one worker thread)."""
    return {"history": fact_history(store, asset), "revisions": revisions(store, asset),
            "tickets": tickets(store, asset), "runs": runs(store, asset)}  # fmt: skip
