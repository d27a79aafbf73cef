"""What the desk's console pages read: requesters matching what the agent types (contact details
masked), the teams and assets the new-ticket form offers, a requester's public timeline with their own
replies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from opsagent.desk.privacy import masked_requester
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now
from opsagent.web.queries import PUBLIC_EVENTS, _like

LOOKUP_LIMIT = 10


def lookup(store: Store, text: str, limit: int = LOOKUP_LIMIT) -> list[dict[str, Any]]:
    """Requesters whose name, phone, email or department contains ``text`` (at least two characters),
    phone and email masked: the agent picks one by name and organisation, the record stays private."""
    text = text.strip()[:100]
    if len(text) < 2:
        return []
    r, o = schema.requesters.c, schema.organisations.c
    digits = "".join(ch for ch in text if ch.isdigit())
    pattern = _like(text.lower())
    conditions = [func.lower(r.name).like(pattern, escape="\\"), func.lower(r.email).like(pattern, escape="\\"),
                  func.lower(r.department).like(pattern, escape="\\")]  # fmt: skip
    if len(digits) >= 3:
        conditions.append(r.phone.like(_like(digits), escape="\\"))
    query = (
        select(r.id, r.name, r.phone, r.email, r.department, o.name.label("organisation"))
        .select_from(schema.requesters.outerjoin(schema.organisations, o.id == r.organisation_id))
        .where(or_(*conditions))
        .order_by(r.name, r.id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [masked_requester(dict(row._mapping)) for row in conn.execute(query)]


def requester_name(store: Store, requester_id: int) -> dict[str, Any] | None:
    r, o = schema.requesters.c, schema.organisations.c
    query = (
        select(r.id, r.name, r.phone, r.email, r.department, o.name.label("organisation"))
        .select_from(schema.requesters.outerjoin(schema.organisations, o.id == r.organisation_id))
        .where(r.id == requester_id)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    return masked_requester(dict(row._mapping)) if row is not None else None


def public_timeline(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """What the requester may see of a ticket's log: the public steps (no text: an engineer's message
    may be internal) and the requester's own replies from the portal (with their text)."""
    e = schema.incident_events.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(e.at, e.kind, e.message, e.detail)
            .where(e.incident_id == incident_id, e.kind.in_((*PUBLIC_EVENTS, "note")))
            .order_by(e.id)
        ).all()
    out = []
    for row in rows:
        if row.kind == "note":
            if (row.detail or {}).get("public") is True:
                out.append({"at": as_utc(row.at), "kind": "reply", "message": row.message})
            continue
        out.append({"at": as_utc(row.at), "kind": row.kind, "message": ""})
    return out


def service_of(store: Store, incident_id: int) -> dict[str, Any]:
    s = schema.incident_service.c
    with store.engine.connect() as conn:
        row = conn.execute(
            select(s.satisfaction, s.feedback, s.followed_up_at, s.followed_up_by, s.signed_off_by)
            .where(s.incident_id == incident_id)
        ).first()  # fmt: skip
    return dict(row._mapping) if row is not None else {}


LIVE_WINDOW = timedelta(minutes=2)  # rows opened this recently may not have projected clocks yet
LIVE_LIMIT = 20


def _next_clock(clocks: dict[str, Any]) -> dict[str, Any] | None:
    """The running clock due first (breached or not), as the queue shows it."""
    running = [(n, c) for n, c in (clocks or {}).items() if isinstance(c, dict) and c.get("state") == "running"]
    due = [(datetime.fromisoformat(c["due"]), n, bool(c.get("breached"))) for n, c in running if c.get("due")]
    if not due:
        return None
    at, name, breached = min(due)
    return {"clock": name, "due": at, "breached": breached or any(c.get("breached") for _, c in running)}


def with_desk(rows: list[dict[str, Any]], live: Callable[[int], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The queue's rows, read with their requester and SLA projection (``queries.queue(..., desk=True)``:
    one statement, not a second one for the page's ids), with the requester's name and the next SLA
    clock to show; clocks are computed live only for the few opened since the last SLA tick (no
    projection yet)."""
    recent = now() - LIVE_WINDOW
    budget = LIVE_LIMIT
    for row in rows:
        clocks = row.pop("sla", None)
        if not clocks and live is not None and budget > 0 and row.get("opened_at") and row["opened_at"] >= recent:
            clocks, budget = live(row["id"]), budget - 1
        row["requester"] = row.get("requester") or ""
        row["sla"] = _next_clock(clocks or {})
    return rows
