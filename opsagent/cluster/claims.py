"""Notifications sent once by agents sharing a store: a group's send is claimed on its shared row first.

Each agent plans notifications from its own alerts (Alertmanager's timing rules); before sending, it
locks the group's row in ``notification_groups`` and sends only if no agent sent the same alerts
within the repeat interval (a resolution only if those alerts were announced and not yet resolved).
Losing a claim adopts the winner's memory, so the agent does not try again every tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from opsagent.store import Store, schema


@dataclass(frozen=True)
class Claim:
    won: bool
    last_sent: float | None  # the group's shared memory after the claim
    sent_firing: frozenset[str]


def _due(row: object | None, firing: frozenset[str], resolved: frozenset[str], t: float, repeat: float) -> bool:
    if row is None or getattr(row, "last_sent", None) is None:
        return bool(firing) or not resolved  # a first resolution of alerts never announced: nothing to say
    sent = frozenset(getattr(row, "sent_firing", None) or ())
    if resolved:
        return bool(resolved & sent) or not firing <= sent
    return not firing <= sent or t - float(getattr(row, "last_sent", 0.0)) >= repeat


def claim(
    store: Store, key: str, agent: str, firing: frozenset[str], resolved: frozenset[str], t: float, repeat: float
) -> Claim:
    c = schema.notification_groups.c
    with store.transaction() as conn:
        row = conn.execute(select(schema.notification_groups).where(c.group_key == key).with_for_update()).first()
        if not _due(row, firing, resolved, t, repeat):
            if row is None:
                return Claim(False, None, frozenset())
            return Claim(False, row.last_sent, frozenset(row.sent_firing or ()))
        values = {"last_sent": t, "sent_firing": sorted(firing), "agent": agent}
        if row is None:
            if not _insert(conn, key, values):
                return Claim(False, t, firing)  # another agent claimed it this very moment
        else:
            conn.execute(update(schema.notification_groups).where(c.group_key == key).values(**values))
    return Claim(True, t, firing)


def _insert(conn: Connection, key: str, values: dict[str, object]) -> bool:
    try:
        with conn.begin_nested():
            conn.execute(insert(schema.notification_groups).values(group_key=key, **values))
    except IntegrityError:
        return False
    return True


def unclaim(store: Store, key: str, agent: str, t: float) -> None:
    """The send failed: free the group so the next tick (of any agent) tries again."""
    c = schema.notification_groups.c
    with store.transaction() as conn:
        conn.execute(
            update(schema.notification_groups)
            .where(c.group_key == key, c.agent == agent, c.last_sent == t)
            .values(last_sent=None, sent_firing=[])
        )
