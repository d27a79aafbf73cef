"""What the SLA tick stores with each projection, and how to tell it is current: the clock profile's
digest (the part of the policy its clocks depend on), the last event it counted, and the key of
what a reader acts on (state, due time, breach, stop time of each clock). Pure, apart from two SQL
expressions over the event log (each incident's last counted event; events after a given one).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from opsagent.incidents.model import EventKind
from opsagent.sla.batch import PAUSED, STATES, Group, micros
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema

_ESCALATED = EventKind.ESCALATED.value
_STATE_CODE = {name: code for code, name in enumerate(STATES)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


Profile = tuple[str, str, bool, str, str]  # priority, requester type, complex, ticket type, contract


def profile_of(
    priority: str, requester: str, complexity: str | None, kind: str | None = None, contract: str | None = None
) -> Profile:
    return (priority, requester, (complexity or "").lower() == "complex", kind or "incident", contract or "")


class ClockDigests:
    """Per profile, a digest of the part of the policy its clocks depend on — budgets, the
    priority's calendar, escalation — stored with each projection: a reload that changes one
    priority's targets leaves the others' projections current."""

    def __init__(self, policy: ServiceLevelPolicy) -> None:
        self.policy = policy
        self._found: dict[Profile, str] = {}
        self._escalation = policy.escalation.model_dump(mode="json")

    def __call__(self, profile: Profile) -> str:
        found = self._found.get(profile)
        if found is None:
            policy = self.policy
            calendar = policy.calendars[policy.calendar_name(profile[0], profile[3], profile[4])]
            data = {"budgets": policy.budgets(*profile), "calendar": calendar.model_dump(mode="json"),
                    "escalation": self._escalation}  # fmt: skip
            text = json.dumps(data, sort_keys=True, default=str)
            found = self._found[profile] = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
        return found

    def known(self) -> list[str]:
        """The digests of every profile the policy names (for a query's coarse filter)."""
        policy = self.policy
        kinds = ("incident", *policy.types)
        return sorted(
            {
                self((p, r, c, k, contract))
                for p in policy.targets
                for r in ("internal", "external")
                for c in (False, True)
                for k in kinds
                for contract in ("", *policy.contracts)
            }
        )


def last_counted(watermark: int | None = None) -> Any:
    """Subquery (incident_id, last): each incident's last event that a projection counts — an
    escalation is the tick's own write (after its projection's) and never moves a clock."""
    e = schema.incident_events.c
    query = select(e.incident_id, func.max(e.id).label("last")).where(e.kind != _ESCALATED)
    if watermark is not None:
        query = query.where(e.id <= watermark)
    return query.group_by(e.incident_id).subquery()


def counted_after(incident_id: Any, event_id: Any) -> Any:
    """SQL: the incident has an event that a projection counts after ``event_id`` (an indexed seek
    per incident; true when ``event_id`` is null)."""
    e = schema.incident_events.alias("later").c  # an alias: the outer query may read the events too
    later = select(e.id).where(e.incident_id == incident_id, e.id > event_id, e.kind != _ESCALATED).exists()
    return event_id.is_(None) | later


def shown_keys(group: Group) -> list[tuple[Any, ...]]:
    """What a reader of the projection acts on, per member: state, due time (µs), breach and stop
    time (µs) of each clock. Used time moving on is not a change, nor is a paused clock's due time
    (it means "if work resumed now", so it moves with every tick)."""
    cols: list[list[Any]] = []
    for a in group.clocks.values():
        due = np.where(a.state == PAUSED, np.nan, a.due)
        cols += [a.state.tolist(), micros(due).tolist(), a.breached.tolist(), micros(a.stopped_at).tolist()]
    names = tuple(group.clocks)
    return [(names, *row) for row in zip(*cols, strict=True)] if cols else [(names,)] * len(group.refs)


def stored_key(row: Any, digest: str) -> tuple[Any, ...] | None:
    """The stored projection's :func:`shown_keys` key, last event, next check and policy digest;
    None when there is none to compare (or it was computed under another policy)."""
    if row.has_service is None or not row.sla or row.policy_digest != digest:
        return None
    nxt = row.next_check_at
    nxt = (nxt.replace(tzinfo=UTC) if nxt.tzinfo is None else nxt) if nxt is not None else None
    try:
        sla = json.loads(row.sla)
        key: list[Any] = [tuple(sla)]
        for c in sla.values():
            state = _STATE_CODE[c["state"]]
            due = -1 if state == PAUSED else _iso_micros(c["due"])
            key += [state, due, c["breached"], _iso_micros(c["stopped_at"])]
        return (tuple(key), row.seen_event_id, nxt, row.policy_digest)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _iso_micros(value: str | None) -> int:
    if not value:
        return -1
    return (datetime.fromisoformat(value) - _EPOCH) // _MICRO
