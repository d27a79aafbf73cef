"""Store functions for received events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from opsagent.store import schema
from opsagent.store.engine import Store, as_utc
from opsagent.traps.receiver import TrapEvent


def record_event(store: Store, event: TrapEvent, asset: str | None) -> int:
    row = {
        "received_at": event.received_at,
        "kind": event.kind,
        "source": event.source,
        "asset": asset,
        "name": event.trap_name or event.trap_oid,
        "oid": event.trap_oid,
        "detail": {"varbinds": event.varbinds, "security": event.security},
    }
    with store.transaction() as conn:
        key = conn.execute(insert(schema.events).values(**row)).inserted_primary_key
    return int(key[0]) if key else 0


def list_events(
    store: Store, asset: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    e = schema.events
    query = select(e).order_by(e.c.id.desc()).limit(limit)
    if asset:
        query = query.where(e.c.asset == asset)
    if since:
        query = query.where(e.c.received_at >= since)
    with store.engine.connect() as conn:
        return [dict(r._mapping) | {"received_at": as_utc(r.received_at)} for r in conn.execute(query)]
