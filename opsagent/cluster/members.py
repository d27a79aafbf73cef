"""Membership and named leases in the store: plain conditional writes that work alike on PostgreSQL
and SQLite. Times are Unix seconds as each agent's clock reads them (keep the hosts on NTP).

Why lease rows and not a PostgreSQL advisory lock for the leader: an advisory lock lives as long as its
connection, and a frozen process (SIGSTOP, a VM paused, a long GC) keeps its TCP connection open, so it
would stay leader forever; a lease expires by itself, shows in ``cluster status``, and needs no
dedicated connection. Every renewal is one UPDATE guarded by the holder or by expiry, so two agents
can never both hold it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from opsagent.store import schema

LEADER = "leader"


@dataclass(frozen=True)
class Member:
    id: str
    host: str = ""
    pid: int = 0
    version: str = ""
    listen: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    joined_at: float = 0.0
    heartbeat_at: float = 0.0
    lease_until: float = 0.0
    targets: int = 0

    @classmethod
    def from_row(cls, row: Any) -> Member:
        m = row._mapping
        return cls(
            m["id"], m["host"], m["pid"], m["version"], m["listen"], dict(m["labels"] or {}), tuple(m["groups"] or ()),
            m["joined_at"], m["heartbeat_at"], m["lease_until"], m["targets"],
        )  # fmt: skip


def renew(conn: Connection, me: Member, now: float, lease: float, targets: int) -> bool:
    """Extend this agent's lease; True when it was still live (False: it joined, or re-joined after its
    lease ran out — a frozen agent that resumes is a newcomer and waits like one)."""
    m = schema.cluster_members.c
    kept = conn.execute(
        update(schema.cluster_members)
        .where(m.id == me.id, m.pid == me.pid, m.lease_until > now)
        .values(heartbeat_at=now, lease_until=now + lease, targets=targets)
    ).rowcount
    if kept:
        return True
    row = {
        "host": me.host, "pid": me.pid, "version": me.version, "listen": me.listen, "labels": me.labels,
        "groups": list(me.groups), "joined_at": now, "heartbeat_at": now, "lease_until": now + lease, "targets": 0,
    }  # fmt: skip
    if not conn.execute(update(schema.cluster_members).where(m.id == me.id).values(**row)).rowcount:
        conn.execute(insert(schema.cluster_members).values(id=me.id, **row))
    return False


def members(conn: Connection) -> list[Member]:
    m = schema.cluster_members.c
    return [Member.from_row(r) for r in conn.execute(select(schema.cluster_members).order_by(m.id))]


def leave(conn: Connection, member_id: str, pid: int) -> None:
    m = schema.cluster_members.c
    conn.execute(delete(schema.cluster_members).where(m.id == member_id, m.pid == pid))


def acquire(conn: Connection, name: str, holder: str, now: float, lease: float) -> bool:
    """Take or renew the named lease; True while this holder has it. Taken over only once expired."""
    c = schema.cluster_leases.c
    renewed = conn.execute(
        update(schema.cluster_leases)
        .where(c.name == name, c.holder == holder, c.lease_until > now)
        .values(lease_until=now + lease)
    ).rowcount
    if renewed:
        return True
    taken = conn.execute(
        update(schema.cluster_leases)
        .where(c.name == name, c.lease_until <= now)
        .values(holder=holder, acquired_at=now, lease_until=now + lease)
    ).rowcount
    if taken:
        return True
    if conn.execute(select(c.name).where(c.name == name)).first() is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(
                insert(schema.cluster_leases).values(name=name, holder=holder, acquired_at=now, lease_until=now + lease)
            )
    except IntegrityError:  # another agent created it first
        return False
    return True


def release(conn: Connection, name: str, holder: str) -> None:
    c = schema.cluster_leases.c
    conn.execute(delete(schema.cluster_leases).where(c.name == name, c.holder == holder))


def leases(conn: Connection) -> list[dict[str, Any]]:
    c = schema.cluster_leases.c
    return [dict(r._mapping) for r in conn.execute(select(schema.cluster_leases).order_by(c.name))]
