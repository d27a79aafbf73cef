"""What the console's pages read from the store (SQLAlchemy Core, bounded): the queue with its
filters, open incidents by priority, clocks near breach, runbook approvals waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from opsagent.incidents.model import ACTIVE
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc

QUEUE_LIMIT = 50  # tickets per page of the queue; older ones page by id (keyset: ?before=ID)
SEARCH_WINDOW = 10_000  # ids a search page looks through at most
RISK_WINDOW = timedelta(hours=1)  # a running clock due within this is "at risk"
STATUSES = ("active", "open", "acknowledged", "resolved", "closed", "all")
FILTERS = ("priority", "source", "type", "assignee", "asset")
CHOICES = ("priority", "source", "type", "assignee")  # the filters offered as a select (asset: typed)


@dataclass(frozen=True)
class QueueFilter:
    status: str = "active"
    priority: str = ""
    source: str = ""
    type: str = ""
    assignee: str = ""
    asset: str = ""
    q: str = ""
    before: int = 0  # a page of the queue: the tickets older than this id (0: the newest)

    @classmethod
    def of(cls, query: Any) -> QueueFilter:
        status = query.get("status", "active")
        values = {k: str(query.get(k, "")).strip()[:255] for k in (*FILTERS, "q")}
        before = str(query.get("before", ""))
        page = int(before) if before.isdigit() and len(before) < 10 else 0
        return cls(status=status if status in STATUSES else "active", before=page, **values)

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("status", *FILTERS, "q")}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(f: QueueFilter) -> list[Any]:
    t = schema.incidents.c
    found: list[Any] = []
    if f.status == "active":
        found.append(schema.active_incident())
    elif f.status != "all":
        found.append(t.status == f.status)
    found += [getattr(t, k) == getattr(f, k) for k in FILTERS if getattr(f, k)]
    if f.before:
        found.append(t.id < f.before)
    if f.q:
        pattern = _like(f.q)
        found.append(or_(t.title.like(pattern, escape="\\"), t.description.like(pattern, escape="\\")))
    return found


def _times(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("opened_at", "acknowledged_at", "resolved_at", "updated_at"):
        if data.get(key) is not None:
            data[key] = as_utc(data[key])
    return data


def queue_query(f: QueueFilter, limit: int, floor: int = 0, desk: bool = False) -> Any:
    """The statement of a queue page (bench/bench_console.py shows its plans); ``floor``: the lowest
    id a search page looks at; ``desk``: each ticket's requester (name) and SLA projection (clocks) too,
    joined by key to the page's ids (an ``IN`` of the page's own statement) — to the page only: joined
    before the ORDER BY … LIMIT, every matching ticket's clocks would be read."""
    t = schema.incidents.c
    cols = (t.id, t.title, t.status, t.priority, t.source, t.type, t.assignee, t.asset, t.opened_at, t.updated_at)
    conditions = _conditions(f) + ([t.id >= floor] if floor else [])
    page = select(*(cols if not desk else (t.id,))).order_by(t.id.desc()).limit(limit)
    page = page.where(and_(*conditions)) if conditions else page
    if not desk:
        return page
    d, r, s = schema.ticket_details.c, schema.requesters.c, schema.incident_service.c
    joined = (
        schema.incidents.outerjoin(schema.ticket_details, d.incident_id == t.id)
        .outerjoin(schema.requesters, r.id == d.requester_id)
        .outerjoin(schema.incident_service, s.incident_id == t.id)
    )
    page_ids = t.id.in_(page.scalar_subquery())
    return select(*cols, r.name.label("requester"), s.sla).select_from(joined).where(page_ids)  # queue() sorts


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict[str, Any]]
    older: int  # the ``before`` of the next page; 0 when this page is the last
    searched_from: int = 0  # a search page looked at ids from here up only (0: all the way down)

    def as_dict(self) -> dict[str, Any]:
        return {"incidents": self.rows, "older": self.older or None, "searched_from": self.searched_from or None}


def _search_floor(conn: Any, f: QueueFilter) -> int:
    """A search (a substring anywhere in title or description: no index serves it) looks through
    :data:`SEARCH_WINDOW` ids a page, so a word found nowhere costs a bounded scan, not the whole table."""
    if not f.q:
        return 0
    top = f.before or (conn.execute(select(func.max(schema.incidents.c.id))).scalar() or 0) + 1
    return max(0, top - SEARCH_WINDOW)


def queue(store: Store, f: QueueFilter, limit: int = QUEUE_LIMIT, desk: bool = False) -> QueuePage:
    """One page of the queue, newest first; the next page starts below its last id (keyset paging:
    one index walk per page, however deep, and no count of every matching row). ``desk``: with each
    ticket's ``requester`` and ``sla`` projection (see :func:`opsagent.web.queries_desk.with_desk`)."""
    with store.engine.connect() as conn:
        floor = _search_floor(conn, f)
        rows = [_times(r) for r in conn.execute(queue_query(f, limit + 1, floor, desk))]
    rows.sort(key=lambda row: -row["id"])  # newest first (the joined statement has no order of its own)
    if len(rows) > limit:
        return QueuePage(rows[:limit], rows[limit - 1]["id"], floor)
    return QueuePage(rows, floor if floor > 1 else 0, floor)  # a search goes on below its window


def choices(store: Store) -> dict[str, list[str]]:
    """The values the queue's selects offer (those present among incidents): a scan of the incidents,
    so the console keeps the answer a while (:class:`opsagent.web.cache.Kept`)."""
    t = schema.incidents.c
    out: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for name in CHOICES:
            col = getattr(t, name)
            rows = conn.execute(select(col).where(col.is_not(None)).distinct().order_by(col).limit(200))
            out[name] = [str(v) for v in rows.scalars() if v != ""]
    return out


def open_by_priority(store: Store) -> list[tuple[str, int]]:
    t = schema.incidents.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.priority, func.count()).where(t.status.in_(ACTIVE)).group_by(t.priority).order_by(t.priority)
        )
        return [(str(r[0]), int(r[1])) for r in rows]


def _risky(clocks: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    out = []
    for name, clock in (clocks or {}).items():
        if not isinstance(clock, dict) or clock.get("state") != "running" or not clock.get("due"):
            continue
        due = datetime.fromisoformat(clock["due"])
        if clock.get("breached") or due - at <= RISK_WINDOW:
            out.append({"clock": name, "due": due, "breached": bool(clock.get("breached")) or due <= at})
    return out


def sla_risk(
    store: Store, at: datetime, live: Callable[[int], dict[str, Any]] | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Running clocks of active incidents due within :data:`RISK_WINDOW` or already breached, soonest
    first: from the service projection the SLA tick keeps current, or computed by ``live`` for an
    incident opened since the last tick (no projected clocks yet)."""
    t, s = schema.incidents.c, schema.incident_service.c
    query = (
        select(t.id, t.title, t.priority, s.sla)
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
        .where(t.status.in_(ACTIVE))
        .order_by(t.id.desc())
        .limit(limit)
    )
    found: list[dict[str, Any]] = []
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            clocks = row.sla or (live(row.id) if live is not None else {})
            for risk in _risky(clocks, at):
                found.append({"id": row.id, "title": row.title, "priority": row.priority, **risk})
    return sorted(found, key=lambda r: r["due"])


def approvals_waiting(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    a, r = schema.runbook_approvals.c, schema.runbook_runs.c
    query = (
        select(a.id, a.run_id, a.asset, a.step, a.requested_at, r.runbook)
        .select_from(schema.runbook_approvals.join(schema.runbook_runs, r.id == a.run_id))
        .where(a.status == "pending")
        .order_by(a.id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [dict(row._mapping) | {"requested_at": as_utc(row.requested_at)} for row in conn.execute(query)]


def _own(email: str) -> Any:
    """Incidents raised at the desk by the requester whose email is ``email`` (a user's own requests)."""
    t, d, r = schema.incidents.c, schema.ticket_details.c, schema.requesters.c
    return (
        select(t.id, t.title, t.status, t.type, t.priority, t.description, t.opened_at, t.updated_at)
        .select_from(
            schema.incidents.join(schema.ticket_details, d.incident_id == t.id).join(
                schema.requesters, r.id == d.requester_id
            )
        )
        .where(func.lower(r.email) == email.strip().lower())
    )


def own_requests(store: Store, email: str, limit: int = QUEUE_LIMIT) -> list[dict[str, Any]]:
    if not email.strip():
        return []
    with store.engine.connect() as conn:
        rows = conn.execute(_own(email).order_by(schema.incidents.c.id.desc()).limit(limit))
        return [_times(r) for r in rows]


def own_request(store: Store, email: str, incident_id: int) -> dict[str, Any] | None:
    """One of the requester's own requests with its public timeline (no internal notes); None when it
    is not theirs (or does not exist: the two are not told apart)."""
    if not email.strip():
        return None
    e = schema.incident_events.c
    with store.engine.connect() as conn:
        row = conn.execute(_own(email).where(schema.incidents.c.id == incident_id)).first()
        if row is None:
            return None
        events = conn.execute(
            select(e.at, e.kind).where(e.incident_id == incident_id, e.kind.in_(PUBLIC_EVENTS)).order_by(e.id)
        )
        return _times(row) | {"events": [{"at": as_utc(v.at), "kind": v.kind} for v in events]}


PUBLIC_EVENTS = ("opened", "acknowledged", "assigned", "pending", "resumed", "resolved", "reopened", "closed",
                 "followed_up")  # fmt: skip
