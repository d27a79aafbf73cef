"""What a requester does on their own ticket (the online channel, ``source`` = ``portal``): reply,
confirm the resolution with a satisfaction score, or say it is not fixed. The same service calls as the
email channel's reply and confirmation (:mod:`opsagent.desk.mailintake`) and the API's ``feedback``:
a reply is a note on the timeline (marked as the requester's, so their own view shows it) that resumes
a ticket waiting on them; a confirmation is the follow-up (维修结果复查) that closes it; "not fixed"
reopens it. Ownership is checked by the caller (the console) before any of these runs."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from opsagent.incidents import repo
from opsagent.incidents.model import ACTIVE, EventKind, Status
from opsagent.incidents.repo import IncidentError
from opsagent.sla import service
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, now

CHANNEL = "portal"
MAX_TEXT = 10_000


def reply(store: Store, policy: ServiceLevelPolicy, incident_id: int, actor: str, message: str) -> None:
    """The requester's answer, on the timeline; a ticket waiting on them resumes (as a mail reply does)."""
    text = message.strip()[:MAX_TEXT]
    if not text:
        raise IncidentError("message: empty reply")
    t = schema.incidents.c
    with store.transaction() as conn:
        status = conn.execute(select(t.status).where(t.id == incident_id)).scalar()
        if status is None:
            raise IncidentError(f"no incident #{incident_id}")
        at = now()
        conn.execute(insert(schema.incident_events).values(
            incident_id=incident_id, at=at, kind=EventKind.NOTE.value, actor=actor, message=text,
            detail={"channel": CHANNEL, "public": True},
        ))  # fmt: skip
        conn.execute(update(schema.incidents).where(t.id == incident_id).values(updated_at=at))
        store.audit(conn, actor, "incident.reply", f"incident#{incident_id}", {"channel": CHANNEL})
    if status in ACTIVE and _waiting(store, incident_id):
        service.act(store, policy, incident_id, "resume", actor, "the requester replied")
    else:
        service.refresh(store, policy, incident_id)


def confirm(
    store: Store, policy: ServiceLevelPolicy, incident_id: int, actor: str, satisfaction: int, comment: str
) -> None:
    """The requester confirms the fix and rates it (1–5): the follow-up, which closes a resolved ticket."""
    if not 1 <= satisfaction <= 5:
        raise IncidentError("satisfaction is a score from 1 to 5")
    service.act(store, policy, incident_id, "followup", actor, comment.strip()[:MAX_TEXT], satisfaction=satisfaction)


def not_fixed(store: Store, policy: ServiceLevelPolicy, incident_id: int, actor: str, message: str) -> None:
    """The requester says the problem is still there: the ticket is reopened."""
    found = repo.get(store, incident_id)
    if found is None or found["status"] not in (Status.RESOLVED.value, Status.CLOSED.value):
        raise IncidentError(f"cannot reopen incident #{incident_id}: it is not resolved")
    text = message.strip()[:MAX_TEXT] or "the requester says it is not fixed"
    repo.act(store, incident_id, "reopen", actor, text)
    service.refresh(store, policy, incident_id)


def _waiting(store: Store, incident_id: int) -> bool:
    e = schema.incident_events.c
    kinds = ("pending", "resumed", "resolved", "reopened", "closed", "acknowledged")
    with store.engine.connect() as conn:
        last = conn.execute(
            select(e.kind).where(e.incident_id == incident_id, e.kind.in_(kinds)).order_by(e.id.desc()).limit(1)
        ).scalar()
    return last == "pending"
