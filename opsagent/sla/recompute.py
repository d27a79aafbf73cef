"""The SLA tick: recompute the clocks of active incidents from their event logs, store the changed
projections, record the escalations now due.

Costs are kept in bulk: one SELECT of the incidents and one of their events (not a query per
incident), the clocks of all of them at once (:mod:`opsagent.sla.batch`, numpy), projection rows
written with executemany and only when what a reader sees (state, due time, breach) changed. With a
:class:`TickState` carried between ticks only incidents with new events (event ids above the last
tick's high-water mark) or a threshold now reached are recomputed, so a tick over 100,000 quiet open
incidents is one indexed query and a scan of a dict. Settled incidents whose final projection is not
current (another policy, events while the tick was down) are recomputed a share per tick, so period
reports can count them from their projection (``outcome``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Text, bindparam, case, cast, func, insert, literal, select, update

from opsagent.incidents import repo
from opsagent.incidents.model import ACTIVE, EventKind
from opsagent.sla import escalation
from opsagent.sla.batch import ClockBatch, Group
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy
from opsagent.sla.projection import ClockDigests, counted_after, last_counted, profile_of, shown_keys, stored_key
from opsagent.store import schema
from opsagent.store.bulk import IDS, id_chunks
from opsagent.store.engine import Store, now
from opsagent.store.fastdates import epoch_text_column, epochs, utc_reader

_ESCALATED = EventKind.ESCALATED.value
SETTLE_PER_TICK = 5_000  # settled incidents whose stale projection one tick brings up to date


@dataclass(frozen=True)
class Escalated:
    incident_id: int
    title: str
    priority: str
    step: escalation.Escalate
    source: str = ""  # where the incident came from: a person's ticket has its contact details masked in notices


@dataclass
class TickState:
    """What the last tick learnt: the highest event id it had read, the projection each incident
    shows, and the next moment each incident's clocks can change on their own (None: only an event
    can change them)."""

    policy: ServiceLevelPolicy | None = None
    # of what each profile's clocks depend on: stored with each projection, so a restart or a reload
    # recomputes only the incidents whose clocks another policy changes
    digests: ClockDigests | None = None
    watermark: int = 0
    next_check: dict[int, datetime | None] = field(default_factory=dict)
    shown: dict[int, Any] = field(default_factory=dict)
    # settled (resolved, closed) incidents whose final projection is not current — another policy, or
    # events the tick never saw (while it was down) — brought up to date a share per tick, so a period
    # report can count them from it; None: not listed yet
    settling: list[int] | None = None
    # cluster: called inside the tick's write transaction; raises when this agent is no longer the
    # leader (it froze mid-tick and another took over), so no escalation is recorded or sent twice
    fence: Callable[[Connection], None] | None = None


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
        if ids is not None and not full:
            ids |= _settling(conn, state)
        assert state.digests is not None
        rows = {row.id: row for row in _rows(conn, ids, state.digests.known())}
        logs = _events(conn, ids, watermark, moment.timestamp())
    batch = ClockBatch(moment)
    for row in rows.values():
        profile = profile_of(row.priority, row.requester_type, row.complexity, row.type, row.contract)
        log = logs.get(row.id)
        budgets, calendar = policy.budgets(*profile), policy.profile_calendar(row.priority, *profile[3:])
        batch.add(row.id, log.events if log is not None else (), profile, budgets, calendar)
    fired: list[tuple[int, int, Escalated]] = []
    writes: list[dict[str, Any]] = []
    memo: dict[Any, Any] = {}  # on-call lookups and escalation steps, once per tick
    for group in batch.compute():
        done = _done_masks(group.refs, logs)
        fired += _escalate(group, rows, done, policy, moment, memo)
        nxt = escalation.next_check_many(group.clocks, policy, group.profile[0], done, moment, group.calendar)
        writes += _changes(group, rows, logs, nxt.tolist(), state, moment)
    fired.sort(key=lambda f: (f[0], f[1]))  # in incident order, as the levels come
    _write(store, writes, _by_step(fired), moment, state.fence)
    # our own escalated events lie above the mark: their incidents are looked at once more next tick
    state.watermark = watermark
    _forget_inactive(state, list(rows.values()), ids)
    return [e for _, _, e in fired]


def _escalate(
    group: Group,
    rows: Mapping[int, Any],
    done: dict[tuple[str, int], np.ndarray],
    policy: ServiceLevelPolicy,
    moment: datetime,
    memo: dict[Any, Any],
) -> list[tuple[int, int, Escalated]]:
    """The levels due now for a group's members; ``done`` takes them in."""
    out: list[tuple[int, int, Escalated]] = []
    priority = group.profile[0]
    order: dict[str, int] = {name: k for k, name in enumerate(policy.escalation.targets)}
    for members, step in escalation.due_many(group.clocks, policy, priority, done, moment, memo):
        key = (step.target, step.level)
        mask = np.zeros(len(group.refs), dtype=bool)
        mask[members] = True
        done[key] = done[key] | mask if key in done else mask
        rank = order[step.target] * 1000 + step.level
        for k in members.tolist():
            row = rows[group.refs[k]]
            out.append((row.id, rank, Escalated(row.id, row.title, priority, step, row.source)))
    return out


def _changes(
    group: Group,
    rows: Mapping[int, Any],
    logs: Mapping[int, _Log],
    nxt: list[float],
    state: TickState,
    moment: datetime,
) -> list[dict[str, Any]]:
    """The group's projections that differ from what the state (or the store) shows."""
    writes: list[dict[str, Any]] = []
    dicts: list[dict[str, dict[str, Any]]] | None = None
    outcomes: list[str | None] = []
    assert state.digests is not None
    digest = state.digests(group.profile)
    for k, (iid, key, check) in enumerate(zip(group.refs, shown_keys(group), nxt, strict=True)):
        log = logs.get(iid)
        later = log.first_after if log is not None else None
        # an event stamped after the tick's moment (written while it ran, or by a host whose clock
        # runs ahead) is not counted yet: look again when its time comes
        next_t: float | None = check
        if check != check or (later is not None and later < check):
            next_t = later
        seen = log.last_id if log is not None else None
        next_at = state.next_check[iid] = _datetime(next_t)
        shown = (key, seen, next_at, digest)
        known = state.shown[iid] if iid in state.shown else stored_key(rows[iid], digest)
        if shown != known:
            if dicts is None:
                dicts, outcomes = group.as_dicts(), group.outcomes(TARGETS)
            sla = dicts[k]
            writes.append({"iid": iid, "exists": rows[iid].has_service is not None, "sla": sla,
                           "breached": any(c["breached"] for c in sla.values()), "updated_at": moment,
                           "seen": seen, "next": next_at, "digest": digest, "outcome": outcomes[k]})  # fmt: skip
            state.shown[iid] = shown
    return writes


def _message(step: escalation.Escalate) -> str:
    return f"{step.target} at {step.percent:g}% of its time: notify " + ", ".join(step.notify)


def _done_masks(refs: list[int], logs: Mapping[int, _Log]) -> dict[tuple[str, int], np.ndarray]:
    """The escalation levels already recorded, as one bool array per (target, level) over a group."""
    done: dict[tuple[str, int], np.ndarray] = {}
    for k, iid in enumerate(refs):
        log = logs.get(iid)
        if log is None or not log.done:
            continue
        for key in log.done:
            found = done.get(key)
            if found is None:
                found = done[key] = np.zeros(len(refs), dtype=bool)
            found[k] = True
    return done


def _datetime(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def _fresh(old: TickState | None, policy: ServiceLevelPolicy) -> TickState:
    state = old if old is not None else TickState()
    state.policy, state.watermark = policy, 0
    state.digests = ClockDigests(policy)
    state.next_check.clear()
    state.shown.clear()
    state.settling = None
    return state


def _settling(conn: Connection, state: TickState) -> set[int]:
    """The next share of settled incidents whose projection is not current (listed once per state,
    on its first incremental tick, so a restart's first tick stays short)."""
    if state.settling is None:
        t, s = schema.incidents.c, schema.incident_service.c
        assert state.digests is not None
        current = s.policy_digest.in_(state.digests.known()) & ~counted_after(t.id, s.seen_event_id)
        query = (
            select(t.id)
            .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
            .where(t.status.not_in(ACTIVE), ~func.coalesce(current, False))
            .order_by(t.id.desc())
        )
        state.settling = list(conn.execute(query).scalars())
    share = state.settling[-SETTLE_PER_TICK:]
    del state.settling[-SETTLE_PER_TICK:]
    return set(share)


def _after_restart(conn: Connection, state: TickState, moment: datetime, watermark: int) -> set[int] | None:
    """On a fresh state: the active incidents whose stored projection is not current — events after
    the last one it counted, another policy, a threshold reached since — or None when that is most
    of them (one bulk pass is then cheaper). The others are remembered as the projection left them."""
    t, s = schema.incidents.c, schema.incident_service.c
    last = last_counted(watermark)
    next_col, to_utc = utc_reader(conn, s.next_check_at)
    query = (
        select(
            t.id,
            s.seen_event_id,
            next_col,
            s.policy_digest,
            last.c.last,
            t.priority,
            t.requester_type,
            t.labels["complexity"].as_string(),
            t.type,
            t.contract,
        )
        .select_from(
            schema.incidents.join(last, last.c.incident_id == t.id).outerjoin(
                schema.incident_service, s.incident_id == t.id
            )
        )
        .where(t.status.in_(ACTIVE))
    )
    stale: set[int] = set()
    current: dict[int, datetime | None] = {}
    digests = state.digests
    assert digests is not None
    for incident_id, seen, nxt, digest, last_id, *profile in conn.execute(query).fetchall():
        due_at = to_utc(nxt)
        if seen != last_id or digest != digests(profile_of(*profile)) or (due_at is not None and due_at <= moment):
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


def _rows(conn: Connection, ids: set[int] | None, digests: list[str]) -> list[Any]:
    """The incidents to recompute with their stored projection — its clocks and next check only
    when computed under this policy (else the projection is rewritten anyway: not worth reading)."""
    t, s = schema.incidents.c, schema.incident_service.c
    current = s.policy_digest.in_(digests)
    query = (
        select(t.id, t.title, t.source, t.status, t.priority, t.requester_type,
               t.labels["complexity"].as_string().label("complexity"), t.type, t.contract,
               s.incident_id.label("has_service"),
               case((current, cast(s.sla, Text))).label("sla"), s.seen_event_id,
               case((current, s.next_check_at)).label("next_check_at"), s.policy_digest)
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
        .order_by(t.id)
    )  # fmt: skip
    if ids is None:
        return list(conn.execute(query.where(t.status.in_(ACTIVE))))
    # changed incidents whatever their status: a resolved one gets its final (stopped) projection
    rows: list[Any] = []
    chunked = query.where(t.id.in_(IDS))
    for chunk in id_chunks(sorted(ids)):
        rows += conn.execute(chunked, {"ids": chunk})
    return rows


class _Log:
    """What the tick reads of one incident's log: (epoch seconds, kind) of its events, the
    escalation levels already recorded, the last event counted (not an escalation: stored with the
    projection) and the first event stamped after the tick's moment."""

    __slots__ = ("done", "events", "first_after", "last_id")

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []
        self.done: set[tuple[str, int]] = set()
        self.last_id: int | None = None
        self.first_after: float | None = None


def _events(conn: Connection, ids: set[int] | None, watermark: int, moment_t: float) -> dict[int, _Log]:
    """The logs of the active incidents (``ids`` None) or of these incidents, up to the high-water
    mark: the events that can move a clock in one SELECT, the escalation levels recorded in another
    (of their details only target and level, read by the database's JSON path operators; no JSON
    document decoded here, no time parsed), each in chunks of ids."""
    e, t = schema.incident_events.c, schema.incidents.c
    at_col = epoch_text_column(conn, e.at)
    moves = select(e.incident_id, at_col, e.kind, e.id).where(e.id <= watermark, e.kind != _ESCALATED)
    levels = select(e.incident_id, e.detail["target"].as_string(), e.detail["level"].as_integer()).where(
        e.id <= watermark, e.kind == _ESCALATED
    )
    if ids is None:
        # IN (subquery), not a join: SQLite then walks the (incident, id) index in order, no sort
        active = e.incident_id.in_(select(t.id).where(t.status.in_(ACTIVE)))
        moves, levels = moves.where(active), levels.where(active)
        chunks: Iterable[Any] = [{}]
    else:
        moves, levels = moves.where(e.incident_id.in_(IDS)), levels.where(e.incident_id.in_(IDS))
        chunks = ({"ids": chunk} for chunk in id_chunks(sorted(ids)))
    moves = moves.order_by(e.incident_id, e.id)
    out: dict[int, _Log] = {}
    for params in chunks:
        _read_moves(conn.execute(moves, params).all(), out, moment_t)
        for incident_id, target, level in conn.execute(levels, params):
            if target is not None and level is not None:
                log = out.get(incident_id)
                if log is None:
                    log = out[incident_id] = _Log()
                log.done.add((str(target), int(level)))
    return out


def _read_moves(rows: Sequence[Any], out: dict[int, _Log], moment_t: float) -> None:
    if not rows:
        return
    ids, times, kinds, event_ids = zip(*rows, strict=True)
    last = None
    log = _Log()
    for incident_id, at_t, kind, event_id in zip(ids, epochs(times), kinds, event_ids, strict=True):
        if incident_id != last:
            log = out[incident_id] = _Log()
            last = incident_id
        log.events.append((at_t, kind))
        if at_t > moment_t and (log.first_after is None or at_t < log.first_after):
            log.first_after = at_t
        log.last_id = event_id


def _by_step(fired: list[tuple[int, int, Escalated]]) -> list[tuple[escalation.Escalate, list[int]]]:
    """The incidents each level fired for, levels in (target, level) order."""
    steps: dict[int, tuple[escalation.Escalate, list[int]]] = {}
    for incident_id, rank, e in fired:
        steps.setdefault(rank, (e.step, []))[1].append(incident_id)
    return [steps[rank] for rank in sorted(steps)]


def _write(
    store: Store,
    writes: list[dict[str, Any]],
    escalations: list[tuple[escalation.Escalate, list[int]]],
    moment: datetime,
    fence: Callable[[Connection], None] | None = None,
) -> None:
    if not writes and not escalations:
        return
    s, t = schema.incident_service, schema.incidents.c
    columns = {"sla": "sla", "breached": "breached", "updated_at": "updated_at", "seen_event_id": "seen",
               "next_check_at": "next", "policy_digest": "digest", "outcome": "outcome"}  # fmt: skip
    new = [{"incident_id": w["iid"]} | {c: w[k] for c, k in columns.items()} for w in writes if not w["exists"]]
    old = [{"iid": w["iid"]} | {k: w[k] for k in columns.values()} for w in writes if w["exists"]]
    event = schema.incident_events
    with store.transaction() as conn:
        if fence is not None:
            fence(conn)
        if new:
            conn.execute(insert(s), new)
        if old:
            values: dict[str, Any] = {c: bindparam(k) for c, k in columns.items()}
            conn.execute(update(s).where(s.c.incident_id == bindparam("iid")).values(**values), old)
        # one escalation reads the same for every incident it fires for: one INSERT … SELECT per
        # level and chunk of ids, the rows made by the database (a first tick writes 300,000+)
        for step, ids in escalations:
            fixed = [
                literal(moment, event.c.at.type).label("at"),
                literal(_ESCALATED, event.c.kind.type).label("kind"),
                literal(repo.SYSTEM_ACTOR, event.c.actor.type).label("actor"),
                literal(_message(step), event.c.message.type).label("message"),
                literal(step.as_detail(), event.c.detail.type).label("detail"),
            ]
            target = ["incident_id", "at", "kind", "actor", "message", "detail"]
            rows = insert(event).from_select(target, select(t.id, *fixed).where(t.id.in_(IDS)).order_by(t.id))
            for chunk in id_chunks(ids):
                conn.execute(rows, {"ids": chunk})


def _forget_inactive(state: TickState, rows: list[Any], ids: set[int] | None) -> None:
    """Incidents no longer active (resolved, closed) leave the state."""
    seen = {r.id for r in rows if r.status in ACTIVE}
    checked = state.next_check.keys() if ids is None else ids
    for gone in [i for i in checked if i not in seen]:
        state.next_check.pop(gone, None)
        state.shown.pop(gone, None)
