"""Service-level actions and the SLA tick over the store.

People's actions (pending, resume, assess, sign-off, follow-up with satisfaction, archive) append
events; :func:`refresh` recomputes the clocks from the event log and writes the queryable projection
(``incident_service``) that follow-up lists and period reports read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from opsagent.desk import records as desk_records
from opsagent.incidents import repo
from opsagent.incidents.model import ACTIVE, EventKind, Status
from opsagent.incidents.repo import IncidentError
from opsagent.sla.clock import Clock, incident_clocks
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.sla.recompute import Escalated, TickState, tick
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

__all__ = ["Escalated", "TickState", "act", "archive_due", "followups", "get", "refresh", "tick"]

SERVICE_FIELDS = ("impact", "urgency", "symptom", "result")


def _event(
    conn: Connection, incident_id: int, kind: str, actor: str, message: str, at: datetime, **detail: Any
) -> None:
    conn.execute(
        insert(schema.incident_events).values(
            incident_id=incident_id, at=at, kind=kind, actor=actor, message=message, detail=detail
        )
    )


def _service_row(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(schema.incident_service).where(schema.incident_service.c.incident_id == incident_id)
    ).first()
    return dict(row._mapping) if row is not None else None


def _upsert(conn: Connection, incident_id: int, values: Mapping[str, Any]) -> None:
    t = schema.incident_service
    values = dict(values) | {"updated_at": now()}
    if _service_row(conn, incident_id) is None:
        conn.execute(insert(t).values(incident_id=incident_id, sla={}, breached=False).values(**values))
    else:
        conn.execute(update(t).where(t.c.incident_id == incident_id).values(**values))


def _incident(conn: Connection, incident_id: int) -> Any:
    row = conn.execute(select(schema.incidents).where(schema.incidents.c.id == incident_id)).first()
    if row is None:
        raise IncidentError(f"no incident #{incident_id}")
    return row


_ALLOWED = {
    "pending": ACTIVE,
    "resume": ACTIVE,
    "assess": ACTIVE,
    "signoff": (Status.RESOLVED.value, Status.CLOSED.value),
    "followup": (Status.RESOLVED.value, Status.CLOSED.value),
    "archive": (Status.CLOSED.value,),
    "classify": (*ACTIVE, Status.RESOLVED.value),
}
_KIND = {
    "pending": EventKind.PENDING,
    "resume": EventKind.RESUMED,
    "assess": EventKind.ASSESSED,
    "signoff": EventKind.SIGNED_OFF,
    "followup": EventKind.FOLLOWED_UP,
    "archive": EventKind.ARCHIVED,
    "classify": EventKind.UPDATED,
}


def act(  # noqa: C901 - one branch per action, kept side by side
    store: Store,
    policy: ServiceLevelPolicy,
    incident_id: int,
    action: str,
    actor: str,
    message: str = "",
    **fields: Any,
) -> dict[str, Any]:
    """A service-level action by a person; returns the incident with its service record."""
    at = fields.pop("at", None) or now()
    with store.transaction() as conn:
        row = _incident(conn, incident_id)
        if row.status not in _ALLOWED[action]:
            raise IncidentError(f"cannot {action} incident #{incident_id}: it is {row.status}")
        service = _service_row(conn, incident_id) or {}
        detail: dict[str, Any] = {}
        values: dict[str, Any] = {}
        if action == "pending" and _is_pending(conn, incident_id):
            raise IncidentError(f"incident #{incident_id} is already waiting on the requester")
        if action == "resume" and not _is_pending(conn, incident_id):
            raise IncidentError(f"incident #{incident_id} is not waiting on the requester")
        if action == "signoff":
            values = {"signed_off_by": fields["signed_by"], "signed_off_at": at}
            detail = {"by": fields["signed_by"]}
        elif action == "followup":
            score = fields.get("satisfaction")
            if score is not None and not 1 <= int(score) <= 5:
                raise IncidentError("satisfaction is a score from 1 to 5")
            if service.get("followed_up_at") is not None:
                raise IncidentError(f"incident #{incident_id} already has its follow-up")
            values = {"followed_up_at": at, "followed_up_by": actor, "satisfaction": score, "feedback": message}
            detail = {"satisfaction": score}
        elif action == "archive":
            values = {"archived_at": at}
        elif action == "classify":
            values = {k: fields[k] for k in SERVICE_FIELDS if fields.get(k) is not None}
            detail = dict(values)
            priority = policy.priority_for(
                values.get("impact", service.get("impact")), values.get("urgency", service.get("urgency"))
            )
            if priority is not None and priority != row.priority:
                conn.execute(
                    update(schema.incidents)
                    .where(schema.incidents.c.id == incident_id)
                    .values(priority=priority, updated_at=at)
                )
                detail["priority"] = priority
        _event(conn, incident_id, _KIND[action], actor, message, at, **detail)
        store.audit(conn, actor, f"incident.{action}", f"incident#{incident_id}", repo.audited(detail))
        if values:
            _upsert(conn, incident_id, values)
    # 维修结果复查 closes the incident: the user confirmed the fix holds.
    if action == "followup" and row.status == Status.RESOLVED.value:
        repo.act(store, incident_id, "close", actor, "closed after the follow-up call")
        if policy.archive_after_days == 0:
            act(store, policy, incident_id, "archive", actor, "archived at closure")
    return refresh(store, policy, incident_id, now())


def _is_pending(conn: Connection, incident_id: int) -> bool:
    e = schema.incident_events.c
    last = conn.execute(
        select(e.kind)
        .where(
            e.incident_id == incident_id,
            e.kind.in_(("pending", "resumed", "resolved", "reopened", "closed", "acknowledged")),
        )
        .order_by(e.id.desc())
        .limit(1)
    ).scalar()
    return last == "pending"


def service_record(incident: Mapping[str, Any], policy: ServiceLevelPolicy, at: datetime) -> dict[str, Any]:
    """The projection written to ``incident_service`` (pure): clocks, breach, follow-up due."""
    clocks = incident_clocks(incident, incident["events"], policy, at)
    values: dict[str, Any] = {
        "sla": {name: c.as_dict() for name, c in clocks.items()},
        "breached": any(c.breached for c in clocks.values()),
    }
    if incident.get("resolved_at") is not None:
        days = policy.followup.after_working_days
        calendar = policy.followup_calendar(incident.get("priority"))
        values["followup_due_at"] = calendar.add_days(incident["resolved_at"], days)
    else:
        values["followup_due_at"] = None
    return values


def refresh(store: Store, policy: ServiceLevelPolicy, incident_id: int, at: datetime | None = None) -> dict[str, Any]:
    incident = repo.get(store, incident_id)
    if incident is None:
        raise IncidentError(f"no incident #{incident_id}")
    values = service_record(incident, policy, at or now())
    with store.transaction() as conn:
        _upsert(conn, incident_id, values)
        service = _service_row(conn, incident_id) or {}
    return incident | {"service": _utc_fields(service)}


def _utc_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (as_utc(v) if isinstance(v, datetime) else v) for k, v in row.items()}


def get(
    store: Store, policy: ServiceLevelPolicy, incident_id: int, at: datetime | None = None
) -> dict[str, Any] | None:
    """An incident with its events, live clocks and service record."""
    incident = repo.get(store, incident_id)
    if incident is None:
        return None
    with store.engine.connect() as conn:
        service = _utc_fields(_service_row(conn, incident_id) or {})
        ticket = desk_records.ticket_of(conn, incident_id)
    moment = at or now()
    clocks = incident_clocks(incident, incident["events"], policy, moment)
    found = incident | {"service": service, "clocks": clocks}
    return found | {"ticket": ticket} if ticket is not None else found


def archive_due(store: Store, policy: ServiceLevelPolicy, at: datetime | None = None) -> list[int]:
    """Archive (归档) closed incidents ``archive_after_days`` after closure; returns their ids."""
    moment = at or now()
    t, s = schema.incidents.c, schema.incident_service.c
    cutoff = moment - timedelta(days=policy.archive_after_days)
    with store.engine.connect() as conn:
        ids = [
            r.id
            for r in conn.execute(
                select(t.id)
                .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
                .where(t.status == Status.CLOSED.value, t.closed_at <= cutoff, s.archived_at.is_(None))
            )
        ]
    for incident_id in ids:
        with store.transaction() as conn:
            _event(conn, incident_id, EventKind.ARCHIVED, repo.SYSTEM_ACTOR, "archived after closure", moment)
            _upsert(conn, incident_id, {"archived_at": moment})
    return ids


def followups(
    store: Store, policy: ServiceLevelPolicy, at: datetime | None = None, include_done: bool = False
) -> list[dict[str, Any]]:
    """Follow-up tasks (维修结果复查): every resolved incident, however it was resolved (CLI, API,
    an alert that cleared), is due for a call-back N working days after its resolution."""
    s, t = schema.incident_service.c, schema.incidents.c
    query = (
        select(t.id, t.title, t.asset, t.priority, t.status, t.resolved_at, t.assignee, s.followed_up_at,
               s.satisfaction, s.feedback)
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
        .where(t.resolved_at.is_not(None))
    )  # fmt: skip
    if include_done:
        query = query.where((t.status == Status.RESOLVED.value) | s.followed_up_at.is_not(None))
    else:
        query = query.where(t.status == Status.RESOLVED.value, s.followed_up_at.is_(None))
    moment = at or now()
    days = policy.followup.after_working_days
    with store.engine.connect() as conn:
        rows = [_utc_fields(dict(r._mapping)) for r in conn.execute(query)]
    for row in rows:
        row["followup_due_at"] = policy.followup_calendar(row["priority"]).add_days(row["resolved_at"], days)
        row["due"] = row["followed_up_at"] is None and row["followup_due_at"] <= moment
    rows.sort(key=lambda r: (r["followup_due_at"], r["id"]))
    return rows


def clocks_summary(clocks: Mapping[str, Clock]) -> str:
    parts = []
    for name, c in clocks.items():
        flag = "BREACHED" if c.breached else ("met" if c.met else c.state)
        parts.append(f"{name}: {flag}")
    return ", ".join(parts)
