"""The period report's shortcut — a settled incident counted from the SLA tick's final projection —
gives exactly what replaying every event log gives, on a store where some projections are current
and others stale in each way the report must notice (SQLite file and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from opsagent.reports import period
from opsagent.sla import service
from opsagent.sla.policy import TARGETS
from opsagent.store import Store, schema
from tests.sla.policies import policy

START = datetime(2026, 7, 1, tzinfo=UTC)
END = datetime(2026, 10, 1, tzinfo=UTC)
TICKED = datetime(2026, 10, 20, tzinfo=UTC)  # the serve's ticks, before the report
REPORT = datetime(2026, 10, 31, tzinfo=UTC)


def _fill(store: Store, n: int) -> None:
    """Incidents at whole minutes, so some are acknowledged exactly at their 1 h response budget."""
    rng = random.Random(5)
    incidents: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        at = opened = START + timedelta(minutes=rng.randrange(0, 80 * 1440))
        log = [(at, "opened")]
        if rng.random() < 0.8:
            at += timedelta(minutes=rng.choice((30, 59, 60, 61, 120, 121)))
            log.append((at, "acknowledged"))
        if rng.random() < 0.3:
            at += timedelta(hours=rng.randrange(1, 20))
            log.append((at, "pending"))
            at += timedelta(hours=rng.randrange(1, 40))
            log.append((at, "resumed"))
        resolved = rng.random() < 0.85
        if resolved:
            at += timedelta(hours=rng.randrange(1, 60))
            log.append((at, "resolved"))
        incidents.append({
            "id": i, "fingerprint": f"fp{i}", "alertname": rng.choice(("DiskFull", "LinkDown")), "source": "rule",
            "status": "resolved" if resolved else "open", "title": "t", "priority": rng.choice(("P1", "P2", "P3")),
            "category": "software", "requester_type": rng.choice(("internal", "external")), "asset": "db-1",
            "resolve_policy": "auto", "labels": {}, "annotations": {}, "count": 1, "flapping": False,
            "suppressed": [], "opened_at": opened, "last_fired_at": opened, "updated_at": at,
            "resolved_at": at if resolved else None,
        })  # fmt: skip
        events += [{"incident_id": i, "at": t, "kind": k, "actor": "x", "message": "", "detail": {}} for t, k in log]
    with store.transaction() as conn:
        conn.execute(insert(schema.incidents), incidents)
        conn.execute(insert(schema.incident_events), events)


def _settle(store: Store, p: Any) -> None:
    """Ticks as serve runs them, until every settled incident has its final projection."""
    state = service.TickState()
    moment = TICKED
    for _ in range(10):
        service.tick(store, p, moment, state)
        if state.settling == []:
            return
        moment += timedelta(seconds=30)
    raise AssertionError("the ticks did not settle every projection")


def _stats(store: Store, p: Any, projections: bool) -> dict[str, Any]:
    summary = period.load_stats(store, p, START, END, REPORT, projections=projections).summary()
    summary.pop("from"), summary.pop("to")
    return summary


def _spoil(store: Store, ids: list[int], **values: Any) -> None:
    """Make these projections stale in one way, and give them a wrong outcome: if the report took
    them from the projection anyway, its counts would change."""
    s = schema.incident_service
    with store.transaction() as conn:
        conn.execute(update(s).where(s.c.incident_id.in_(ids)).values(outcome="bbb", **values))


def test_outcomes_from_current_projections_equal_replaying_every_log(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = policy()
    _fill(store, 240)
    _settle(store, p)
    reference = _stats(store, p, projections=False)
    assert reference["total"] == 240
    assert 0 < reference["sla"]["response"]["breached"] < reference["sla"]["response"]["met"]
    settled = [i for i in range(1, 241) if _outcome(store, i) is not None]
    assert len(settled) > 150  # the resolved ones
    # stale in each way: another policy, an event the tick has not seen (a reopen: the resolution
    # clock runs again), an event stamped after the tick, a projection newer than the report's time
    _spoil(store, settled[0:5], policy_digest="0" * 32)
    with store.transaction() as conn:
        conn.execute(insert(schema.incident_events), [
            {"incident_id": i, "at": TICKED + timedelta(hours=1), "kind": "reopened", "actor": "x", "message": "",
             "detail": {}} for i in settled[5:10]
        ])  # fmt: skip
    _spoil(store, settled[5:10])
    _spoil(store, settled[10:15], next_check_at=TICKED + timedelta(days=1))
    _spoil(store, settled[15:20], updated_at=REPORT + timedelta(days=1))
    replayed: list[int] = []
    real = period._logs

    def spy(conn: Any, ids: list[int], *rest: Any) -> Any:
        replayed.extend(ids)
        return real(conn, ids, *rest)

    monkeypatch.setattr(period, "_logs", spy)
    fast = _stats(store, p, projections=True)
    assert set(replayed) == set(range(1, 241)) - set(settled[20:])  # the open ones and the 20 stale ones
    replayed.clear()
    assert fast == _stats(store, p, projections=False)
    assert fast["sla"]["resolution"] != reference["sla"]["resolution"]  # the reopened ones count again
    # and a current projection is what the report counts: spoiled, the shortcut shows it
    before = _outcome(store, settled[20])
    assert before is not None
    _spoil(store, settled[20:21])
    spoiled = _stats(store, p, projections=True)
    for name, letter in zip(TARGETS[:3], before, strict=False):  # "bbb" spoils the three clocks this policy sets
        assert spoiled["sla"][name]["breached"] == fast["sla"][name]["breached"] + (letter != "b"), name
        assert spoiled["sla"][name]["met"] == fast["sla"][name]["met"] - (letter == "m"), name


def _outcome(store: Store, incident_id: int) -> str | None:
    s = schema.incident_service.c
    with store.engine.connect() as conn:
        found: str | None = conn.execute(select(s.outcome).where(s.incident_id == incident_id)).scalar()
    return found
