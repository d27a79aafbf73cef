"""Runbook runs in the store: the run row first (status running, with pid, host and a lease) with one
row per target (status running), step rows as they finish, the outcome last.

While a run goes on its process renews the lease (``heartbeat``), noting the step each target is in.
A run whose lease expired — its process was killed, on this host or another, in a container whose
PID 1 came back, or after a hostname change — is marked ``interrupted`` by whoever looks next, with
the step that was running and every unfinished target: recorded, never lost."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

RUNNING, INTERRUPTED = "running", "interrupted"
DEFAULT_LEASE = 60.0  # seconds; renewed every quarter of it (OPSAGENT_RUNBOOK_LEASE overrides)
_ACTIVE: set[int] = set()  # runs this process is executing (a PID reused by a restarted container is ours)
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
    targets: Sequence[str] = (),
    lease: float = DEFAULT_LEASE,
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
                lease_until=now() + timedelta(seconds=lease),
                summary={},
            )
        )
        store.audit(conn, actor, "runbook.run", runbook, {"trigger": trigger, "selector": selector})
        key = result.inserted_primary_key
        assert key is not None
        run_id = key[0]
        assert isinstance(run_id, int)
        if targets:  # every selected target is on record from the start: an interrupted run still lists it
            row: dict[str, Any] = {
                "status": RUNNING,
                "message": "",
                "checks": {},
                "duration": None,
                "finished_at": None,
            }
            conn.execute(insert(schema.runbook_targets), [dict(row, run_id=run_id, asset=a) for a in targets])
        _ACTIVE.add(run_id)
        return run_id


def add_steps(store: Store, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        with store.transaction() as conn:
            conn.execute(insert(schema.runbook_steps), [dict(r, run_id=run_id) for r in rows])


def add_targets(store: Store, run_id: int, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        with store.transaction() as conn:
            conn.execute(insert(schema.runbook_targets), [dict(r, run_id=run_id) for r in rows])


def _put_targets(conn: Connection, run_id: int, targets: Sequence[dict[str, Any]]) -> None:
    """Update the target rows written at the start; insert those that were not (a run made before)."""
    t = schema.runbook_targets
    missing = []
    for row in targets:
        values = {k: v for k, v in row.items() if k != "asset"}
        done = conn.execute(update(t).where(t.c.run_id == run_id, t.c.asset == row["asset"]).values(**values))
        if done.rowcount == 0:
            missing.append(dict(row, run_id=run_id))
    if missing:
        conn.execute(insert(t), missing)


def add_results(
    store: Store,
    run_id: int,
    steps: Sequence[dict[str, Any]],
    targets: Sequence[dict[str, Any]],
    running: Mapping[str, str | None] | None = None,
) -> None:
    """Step and target rows of many targets in one transaction (the executor's group commit), and the
    step each target has just started (``running``: asset → step path, noted on its running target row)."""
    if steps or targets or running:
        with store.transaction() as conn:
            if steps:
                conn.execute(insert(schema.runbook_steps), [dict(r, run_id=run_id) for r in steps])
            if running:
                t = schema.runbook_targets
                conn.execute(
                    update(t)
                    .where(t.c.run_id == run_id, t.c.asset == bindparam("b_asset"), t.c.status == RUNNING)
                    .values(message=bindparam("b_message")),
                    [{"b_asset": a, "b_message": f"{STEP_PREFIX}{p}" if p else ""} for a, p in running.items()],
                )
            if targets:
                _put_targets(conn, run_id, targets)


def heartbeat(store: Store, run_id: int, lease: float) -> None:
    """Renew the run's lease (its process is alive and working on it)."""
    with store.transaction() as conn:
        conn.execute(
            update(schema.runbook_runs)
            .where(schema.runbook_runs.c.id == run_id)
            .values(lease_until=now() + timedelta(seconds=lease))
        )


STEP_PREFIX = "running: "


def finish_run(store: Store, run_id: int, status: str, summary: dict[str, Any], message: str = "") -> None:
    with store.transaction() as conn:
        conn.execute(
            update(schema.runbook_runs)
            .where(schema.runbook_runs.c.id == run_id)
            .values(status=status, summary=summary, message=message, finished_at=now(), lease_until=None)
        )
        _close_targets(conn, [run_id], INTERRUPTED if status == INTERRUPTED else "skipped", message)
    _ACTIVE.discard(run_id)


def _close_targets(conn: Connection, run_ids: list[int], status: str, message: str) -> None:
    """Targets still running when their run ended: interrupted (with a row for the step they were in) or,
    for a run that ended before their turn (rejected, stopped), skipped."""
    t = schema.runbook_targets
    rows = conn.execute(
        select(t.c.run_id, t.c.asset, t.c.message).where(t.c.run_id.in_(run_ids), t.c.status == RUNNING)
    ).all()
    if not rows:
        return
    steps = []
    for row in rows:
        step = row.message.removeprefix(STEP_PREFIX) if row.message.startswith(STEP_PREFIX) else ""
        why = f"interrupted during step {step!r}" if status == INTERRUPTED and step else message or status
        conn.execute(
            update(t)
            .where(t.c.run_id == row.run_id, t.c.asset == row.asset)
            .values(status=status, message=why[:2000], finished_at=now())
        )
        if step and status == INTERRUPTED:
            steps.append(_interrupted_step(conn, row.run_id, row.asset, step))
    if steps:
        conn.execute(insert(schema.runbook_steps), steps)


def _interrupted_step(conn: Connection, run_id: int, asset: str, path: str) -> dict[str, Any]:
    s = schema.runbook_steps.c
    seq = conn.execute(select(s.seq).where(s.run_id == run_id, s.asset == asset).order_by(s.seq.desc())).scalar()
    return {
        "run_id": run_id,
        "asset": asset,
        "seq": (seq or 0) + 1,
        "path": path,
        "type": "",
        "status": INTERRUPTED,
        "attempts": 1,
        "duration": 0.0,
        "message": "the run was interrupted while this step was running",
        "checks": [],
        "started_at": now(),
    }


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


def _dead(row: Any, host: str, current: Any) -> bool:
    """A run nobody executes any more: its lease expired (any host), or on this host its process is gone
    (or is this very process, which does not execute it: a PID reused after a restart)."""
    if row.lease_until is not None and as_utc(row.lease_until) < current:
        return True
    if row.hostname != host:
        return False
    if row.pid == os.getpid():
        return row.id not in _ACTIVE
    return row.pid is None or not _alive(row.pid)


def reap_interrupted(store: Store) -> list[int]:
    """Mark running runs nobody executes any more as interrupted; returns their ids."""
    host = socket.gethostname()
    t = schema.runbook_runs.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.id, t.pid, t.hostname, t.lease_until).where(t.status == RUNNING)).all()
    current = now()
    dead = [r.id for r in rows if _dead(r, host, current)]
    if dead:
        with store.transaction() as conn:
            reaped = conn.execute(
                update(schema.runbook_runs)
                .where(t.id.in_(dead), t.status == RUNNING)
                .where(or_(t.lease_until.is_(None), t.lease_until < current, t.hostname == host))
                .values(status=INTERRUPTED, finished_at=now(), message="the agent stopped during the run")
            )
            if reaped.rowcount:
                _close_targets(conn, dead, INTERRUPTED, "the agent stopped during the run")
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
