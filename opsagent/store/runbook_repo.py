"""Runbook runs in the store: the run row first (status running, with pid and host), step rows as
they finish, the outcome last. A run whose process died is found by its pid and marked
``interrupted`` — recorded, never lost."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, insert, select, update

from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

RUNNING, INTERRUPTED = "running", "interrupted"
_TIMES = ("started_at", "finished_at", "requested_at", "decided_at")


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in _TIMES:
        if data.get(key) is not None:
            data[key] = as_utc(data[key])
    return data


def create_run(
    store: Store,
    *,
    runbook: str,
    kind: str,
    actor: str,
    trigger: str,
    parameters: dict[str, Any],
    selector: str,
    check_mode: bool,
    incident_id: int | None = None,
    retry_of: int | None = None,
) -> int:
    with store.transaction() as conn:
        result = conn.execute(
            insert(schema.runbook_runs).values(
                runbook=runbook,
                kind=kind,
                status=RUNNING,
                actor=actor,
                trigger=trigger,
                incident_id=incident_id,
                parameters=parameters,
                selector=selector,
                check_mode=check_mode,
                retry_of=retry_of,
                pid=os.getpid(),
                hostname=socket.gethostname(),
                started_at=now(),
                summary={},
            )
        )
        store.audit(conn, actor, "runbook.run", runbook, {"trigger": trigger, "selector": selector})
        key = result.inserted_primary_key
        assert key is not None
        run_id = key[0]
        assert isinstance(run_id, int)
        return run_id


def add_steps(store: Store, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        with store.transaction() as conn:
            conn.execute(insert(schema.runbook_steps), [dict(r, run_id=run_id) for r in rows])


def add_targets(store: Store, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        with store.transaction() as conn:
            conn.execute(insert(schema.runbook_targets), [dict(r, run_id=run_id) for r in rows])


def add_results(store: Store, run_id: int, steps: Sequence[dict[str, Any]], targets: Sequence[dict[str, Any]]) -> None:
    """Step and target rows of many targets in one transaction (the executor's group commit)."""
    if steps or targets:
        with store.transaction() as conn:
            if steps:
                conn.execute(insert(schema.runbook_steps), [dict(r, run_id=run_id) for r in steps])
            if targets:
                conn.execute(insert(schema.runbook_targets), [dict(r, run_id=run_id) for r in targets])


def finish_run(store: Store, run_id: int, status: str, summary: dict[str, Any], message: str = "") -> None:
    with store.transaction() as conn:
        conn.execute(
            update(schema.runbook_runs)
            .where(schema.runbook_runs.c.id == run_id)
            .values(status=status, summary=summary, message=message, finished_at=now())
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def reap_interrupted(store: Store) -> list[int]:
    """Mark running runs of this host whose process is gone as interrupted; returns their ids."""
    host = socket.gethostname()
    t = schema.runbook_runs.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.id, t.pid).where(t.status == RUNNING, t.hostname == host)).all()
    dead = [r.id for r in rows if r.pid is None or (r.pid != os.getpid() and not _alive(r.pid))]
    if dead:
        with store.transaction() as conn:
            conn.execute(
                update(schema.runbook_runs)
                .where(t.id.in_(dead), t.status == RUNNING)
                .values(status=INTERRUPTED, finished_at=now(), message="the agent stopped during the run")
            )
            a = schema.runbook_approvals.c
            conn.execute(
                update(schema.runbook_approvals)
                .where(a.run_id.in_(dead), a.status == "pending")
                .values(status="expired", decided_at=now())
            )
    return dead


def list_runs(store: Store, runbook: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    t = schema.runbook_runs.c
    query = select(schema.runbook_runs).order_by(t.id.desc()).limit(limit)
    if runbook:
        query = query.where(t.runbook == runbook)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def get_run(store: Store, run_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.runbook_runs).where(schema.runbook_runs.c.id == run_id)).first()
        if row is None:
            return None
        targets = conn.execute(
            select(schema.runbook_targets)
            .where(schema.runbook_targets.c.run_id == run_id)
            .order_by(schema.runbook_targets.c.asset)
        )
        s = schema.runbook_steps.c
        steps = conn.execute(select(schema.runbook_steps).where(s.run_id == run_id).order_by(s.asset, s.seq))
        approvals = conn.execute(
            select(schema.runbook_approvals)
            .where(schema.runbook_approvals.c.run_id == run_id)
            .order_by(schema.runbook_approvals.c.id)
        )
        return _row(row) | {
            "targets": [_row(r) for r in targets],
            "steps": [_row(r) for r in steps],
            "approvals": [_row(r) for r in approvals],
        }


def last_run(store: Store, runbook: str) -> dict[str, Any] | None:
    t = schema.runbook_runs.c
    with store.engine.connect() as conn:
        row = conn.execute(
            select(t.id).where(t.runbook == runbook, t.check_mode.is_(False), t.status != RUNNING).order_by(t.id.desc())
        ).first()
    return get_run(store, row.id) if row else None


# -- approvals --------------------------------------------------------------------------------
def request_approval(
    store: Store, run_id: int, asset: str, step: str, message: str, approvers: list[str], channel: str
) -> int:
    with store.transaction() as conn:
        result = conn.execute(
            insert(schema.runbook_approvals).values(
                run_id=run_id,
                asset=asset,
                step=step,
                message=message,
                approvers=approvers,
                status="pending",
                requested_at=now(),
                channel=channel,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        approval_id = key[0]
        assert isinstance(approval_id, int)
        return approval_id


def decide(store: Store, approval_id: int, approve: bool, by: str, comment: str = "") -> dict[str, Any] | None:
    """Record a decision on a pending approval; None when there is no such pending approval."""
    a = schema.runbook_approvals.c
    with store.transaction() as conn:
        row = conn.execute(select(schema.runbook_approvals).where(a.id == approval_id)).first()
        if row is None or row.status != "pending":
            return None
        if row.approvers and by not in row.approvers:
            raise PermissionError(f"{by} is not among the approvers of this step ({', '.join(row.approvers)})")
        status = "approved" if approve else "rejected"
        conn.execute(
            update(schema.runbook_approvals)
            .where(and_(a.id == approval_id, a.status == "pending"))
            .values(status=status, decided_at=now(), decided_by=by, comment=comment)
        )
        store.audit(conn, by, f"runbook.{status}", f"run {row.run_id}", {"approval": approval_id, "step": row.step})
    return get_approval(store, approval_id)


def expire(store: Store, approval_id: int) -> None:
    a = schema.runbook_approvals.c
    with store.transaction() as conn:
        conn.execute(
            update(schema.runbook_approvals)
            .where(and_(a.id == approval_id, a.status == "pending"))
            .values(status="expired", decided_at=now())
        )


def get_approval(store: Store, approval_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.runbook_approvals).where(schema.runbook_approvals.c.id == approval_id)).first()
    return _row(row) if row else None


def list_approvals(store: Store, status: str | None = "pending", limit: int = 100) -> list[dict[str, Any]]:
    a = schema.runbook_approvals.c
    query = select(schema.runbook_approvals).order_by(a.id.desc()).limit(limit)
    if status:
        query = query.where(a.status == status)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]
