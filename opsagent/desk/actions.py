"""Desk actions on a ticket beyond the common lifecycle (ack, assign, resolve… in
:mod:`opsagent.incidents.repo`): an engineer on site (stops a contract's on-site clock)."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from opsagent.incidents.model import ACTIVE, EventKind
from opsagent.incidents.repo import IncidentError
from opsagent.store import schema
from opsagent.store.engine import Store, now


def on_site(store: Store, incident_id: int, actor: str, message: str = "") -> None:
    t = schema.incidents.c
    with store.transaction() as conn:
        status = conn.execute(select(t.status).where(t.id == incident_id)).scalar()
        if status is None:
            raise IncidentError(f"no incident #{incident_id}")
        if status not in ACTIVE:
            raise IncidentError(f"cannot record on-site arrival: incident #{incident_id} is {status}")
        at = now()
        conn.execute(update(schema.incidents).where(t.id == incident_id).values(updated_at=at))
        conn.execute(
            insert(schema.incident_events).values(
                incident_id=incident_id, at=at, kind=EventKind.ON_SITE.value, actor=actor,
                message=message or "engineer on site", detail={},
            )
        )  # fmt: skip
