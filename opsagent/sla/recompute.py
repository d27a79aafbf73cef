"""The SLA tick: recompute the clocks of active incidents from their event logs, store the changed
projections, record the escalations now due.

Costs are kept in bulk: one SELECT of the incidents and one of their events (not a query per
incident), clocks on epoch floats, projection rows written with executemany and only when what a
reader sees (state, due time, breach) changed. With a :class:`TickState` carried between ticks only
incidents with new events (event ids above the last tick's high-water mark) or a threshold now
reached are recomputed, so a tick over 100,000 quiet open incidents is one indexed query and a scan
of a dict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from opsagent.incidents import repo
from opsagent.incidents.model import ACTIVE, EventKind
from opsagent.sla import escalation
from opsagent.sla.clock import Clock, incident_clocks
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, now
from opsagent.store.fastdates import utc_reader

_ESCALATED = EventKind.ESCALATED.value
_CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's parameter limits


@dataclass(frozen=True)
class Escalated:
    incident_id: int
    title: str
    priority: str
    step: escalation.Escalate


@dataclass
class TickState:
    """What the last tick learnt: the highest event id it had read, the projection each incident
    shows, and the next moment each incident's clocks can change on their own (None: only an event
    can change them)."""

    policy: ServiceLevelPolicy | None = None
    digest: str = ""  # of the policy: stored with each projection, so a restart knows what to redo
    watermark: int = 0
    next_check: dict[int, datetime | None] = field(default_factory=dict)
    shown: dict[int, Any] = field(default_factory=dict)


def tick(
    store: Store, policy: ServiceLevelPolicy, at: datetime | None = None, state: TickState | None = None
) -> list[Escalated]:
    """Recompute the clocks of active incidents that can have changed (all of them without
    ``state``, or on the first tick, or after a policy reload), store them, record escalations."""
    moment = at or now()
    if state is None or state.policy is not policy:
        state = _fresh(state, policy)
        full = True
    else:
        full = False
    try:
        return _tick(store, policy, moment, state, full)
    except Exception:
        state.policy = None  # what it learnt may not have been stored: the next tick starts afresh
        raise


def _tick(store: Store, policy: ServiceLevelPolicy, moment: datetime, state: TickState, full: bool) -> list[Escalated]:
    with store.engine.connect() as conn:
        watermark = conn.execute(select(func.max(schema.incident_events.c.id))).scalar() or 0
        ids = _after_restart(conn, state, moment, watermark) if full else _changed(conn, state, moment, watermark)
        rows = _rows(conn, ids)
        events, last_ids = _events(conn, ids, watermark)
    fired: list[Escalated] = []
    writes: list[dict[str, Any]] = []
    escalations: list[dict[str, Any]] = []
    memo: dict[Any, Any] = {}  # on-call lookups and escalation steps, once per tick
    for row in rows:
        evs = events.get(row.id, [])
        incident = {"priority": row.priority, "requester_type": row.requester_type,
                    "labels": {"complexity": row.complexity or ""}}  # fmt: skip
        clocks = incident_clocks(incident, evs, policy, moment)
        done = escalation.done_levels(evs)
        for step in escalation.due(clocks, policy, row.priority, done, moment, memo):
            message = f"{step.target} at {step.percent:g}% of its time: notify " + ", ".join(step.notify)
            escalations.append(_escalated_event(row.id, message, moment, step))
            fired.append(Escalated(row.id, row.title, row.priority, step))
            done.add((step.target, step.level))
        nxt = state.next_check[row.id] = _earliest(
            escalation.next_check(clocks, policy, row.priority, done, moment), _first_after(evs, moment)
        )
        shown = (_shown(clocks), last_ids.get(row.id), nxt, state.digest)
        known = state.shown[row.id] if row.id in state.shown else _stored(row)
        if shown != known:
            writes.append(_projection(row, clocks, moment) | {"seen": shown[1], "next": nxt, "digest": state.digest})
            state.shown[row.id] = shown
    _write(store, writes, escalations)
    # our own escalated events lie above the mark: their incidents are looked at once more next tick
    state.watermark = watermark
    _forget_inactive(state, rows, ids)
    return fired


def _first_after(events: list[dict[str, Any]], moment: datetime) -> datetime | None:
    """An event stamped after the tick's moment (written while the tick ran, or by a host whose
    clock runs ahead) is not counted yet: look again when its time comes."""
    later = [e["at"] for e in events if e["at"] > moment]
    return min(later) if later else None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b)


def _fresh(old: TickState | None, policy: ServiceLevelPolicy) -> TickState:
    state = old if old is not None else TickState()
    state.policy, state.watermark = policy, 0
    state.digest = hashlib.md5(policy.model_dump_json().encode(), usedforsecurity=False).hexdigest()
    state.next_check.clear()
    state.shown.clear()
    return state


def _after_restart(conn: Connection, state: TickState, moment: datetime, watermark: int) -> set[int] | None:
    """On a fresh state: the active incidents whose stored projection is not current — events after
    the last one it counted, another policy, a threshold reached since — or None when that is most
    of them (one bulk pass is then cheaper). The others are remembered as the projection left them."""
    t, s, e = schema.incidents.c, schema.incident_service.c, schema.incident_events.c
    last = (
        # escalations are the tick's own writes (after its projection's) and never move a clock
        select(e.incident_id, func.max(e.id).label("last"))
        .where(e.id <= watermark, e.kind != _ESCALATED)
        .group_by(e.incident_id)
        .subquery()
    )
    next_col, to_utc = utc_reader(conn, s.next_check_at)
    query = (
        select(t.id, s.seen_event_id, next_col, s.policy_digest, last.c.last)
        .select_from(
            schema.incidents.join(last, last.c.incident_id == t.id).outerjoin(
                schema.incident_service, s.incident_id == t.id
            )
        )
        .where(t.status.in_(ACTIVE))
    )
    stale: set[int] = set()
    current: dict[int, datetime | None] = {}
    for incident_id, seen, nxt, digest, last_id in conn.execute(query).fetchall():
        due_at = to_utc(nxt)
        if seen != last_id or digest != state.digest or (due_at is not None and due_at <= moment):
            stale.add(incident_id)
        else:
            current[incident_id] = due_at
    if len(stale) > len(current):
        return None
    state.next_check.update(current)
    return stale


def _changed(conn: Connection, state: TickState, moment: datetime, watermark: int) -> set[int]:
    """Incidents with events newer than the last tick, plus those reaching a threshold now."""
    e = schema.incident_events.c
    ids = set(
        conn.execute(
            select(e.incident_id).where(e.id > state.watermark, e.id <= watermark).group_by(e.incident_id)
        ).scalars()
    )
    ids.update(i for i, nxt in state.next_check.items() if nxt is not None and nxt <= moment)
    return ids


def _rows(conn: Connection, ids: set[int] | None) -> list[Any]:
    t, s = schema.incidents.c, schema.incident_service.c
    query = (
        select(t.id, t.title, t.status, t.priority, t.requester_type,
               t.labels["complexity"].as_string().label("complexity"), s.incident_id.label("has_service"), s.sla,
               s.seen_event_id, s.next_check_at, s.policy_digest)
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
        .order_by(t.id)
    )  # fmt: skip
    if ids is None:
        return list(conn.execute(query.where(t.status.in_(ACTIVE))))
    # changed incidents whatever their status: a resolved one gets its final (stopped) projection
    rows: list[Any] = []
    for chunk in _chunks(sorted(ids)):
        rows += conn.execute(query.where(t.id.in_(chunk)))
    return rows


def _events(
    conn: Connection, ids: set[int] | None, watermark: int
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, int]]:
    """The logs of the active incidents (``ids`` None) or of these incidents, in one SELECT (in
    chunks of ids), up to the high-water mark."""
    e, t = schema.incident_events.c, schema.incidents.c
    # of the details only an escalation's target and level are needed (levels already done): read
    # by the database's JSON path operators, no JSON document decoded here
    at_col, to_utc = utc_reader(conn, e.at)
    query = (
        select(e.incident_id, at_col, e.kind, e.detail["target"].as_string(), e.detail["level"].as_integer(), e.id)
        .where(e.id <= watermark)
        .order_by(e.incident_id, e.id)
    )
    if ids is None:
        queries = [query.join(schema.incidents, t.id == e.incident_id).where(t.status.in_(ACTIVE))]
    else:
        queries = [query.where(e.incident_id.in_(chunk)) for chunk in _chunks(sorted(ids))]
    out: dict[int, list[dict[str, Any]]] = {}
    last_ids: dict[int, int] = {}  # the last event counted, stored with the projection
    for q in queries:
        log: list[dict[str, Any]] = []
        last = None
        for incident_id, at, kind, target, level, event_id in conn.execute(q).fetchall():
            if incident_id != last:
                log = out[incident_id] = []
                last = incident_id
            event = {"at": to_utc(at), "kind": kind}
            if kind == _ESCALATED:
                event["detail"] = {"target": target, "level": level}
            else:
                last_ids[incident_id] = event_id
            log.append(event)
    return out, last_ids


def _shown(clocks: Mapping[str, Clock]) -> tuple[Any, ...]:
    """What a reader of the projection acts on. Used time moving on is not a change, nor is a paused
    clock's due time (it means "if work resumed now", so it moves with every tick)."""
    return tuple(
        (n, c.state, None if c.state == "paused" else c.due, c.breached, c.stopped_at) for n, c in clocks.items()
    )


def _stored(row: Any) -> tuple[Any, ...] | None:
    if row.has_service is None or not row.sla:
        return None
    nxt = row.next_check_at
    nxt = (nxt.replace(tzinfo=UTC) if nxt.tzinfo is None else nxt) if nxt is not None else None
    try:
        return (_stored_shown(row), row.seen_event_id, nxt, row.policy_digest)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _stored_shown(row: Any) -> tuple[Any, ...]:
    return tuple(
        (n, c["state"], None if c["state"] == "paused" else _parse(c["due"]), c["breached"], _parse(c["stopped_at"]))
        for n, c in row.sla.items()
    )


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _projection(row: Any, clocks: Mapping[str, Clock], moment: datetime) -> dict[str, Any]:
    return {
        "iid": row.id,
        "exists": row.has_service is not None,
        "sla": {n: c.as_dict() for n, c in clocks.items()},
        "breached": any(c.breached for c in clocks.values()),
        "updated_at": moment,
    }


def _escalated_event(incident_id: int, message: str, at: datetime, step: escalation.Escalate) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "at": at,
        "kind": EventKind.ESCALATED.value,
        "actor": repo.SYSTEM_ACTOR,
        "message": message,
        "detail": step.as_detail(),
    }


def _write(store: Store, writes: list[dict[str, Any]], escalations: list[dict[str, Any]]) -> None:
    if not writes and not escalations:
        return
    s = schema.incident_service
    columns = {"sla": "sla", "breached": "breached", "updated_at": "updated_at", "seen_event_id": "seen",
               "next_check_at": "next", "policy_digest": "digest"}  # fmt: skip
    new = [{"incident_id": w["iid"]} | {c: w[k] for c, k in columns.items()} for w in writes if not w["exists"]]
    old = [{"iid": w["iid"]} | {k: w[k] for k in columns.values()} for w in writes if w["exists"]]
    with store.transaction() as conn:
        if new:
            conn.execute(insert(s), new)
        if old:
            values: dict[str, Any] = {c: bindparam(k) for c, k in columns.items()}
            conn.execute(update(s).where(s.c.incident_id == bindparam("iid")).values(**values), old)
        if escalations:
            conn.execute(insert(schema.incident_events), escalations)


def _forget_inactive(state: TickState, rows: list[Any], ids: set[int] | None) -> None:
    """Incidents no longer active (resolved, closed) leave the state."""
    seen = {r.id for r in rows if r.status in ACTIVE}
    checked = state.next_check.keys() if ids is None else ids
    for gone in [i for i in checked if i not in seen]:
        state.next_check.pop(gone, None)
        state.shown.pop(gone, None)


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
