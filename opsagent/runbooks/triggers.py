"""Runbooks inside ``opsagent serve``: inspections on a cron schedule (APScheduler) and emergency
runbooks started by incidents whose alert rule names one.

A rule names its runbook with annotations (the file stays a valid Prometheus rule file)::

    annotations:
      opsagent_runbook: emergency/disk-full          # name or path under runbooks/
      opsagent_runbook_approval: required            # or auto (default: the runbook's `approval`)
      opsagent_runbook_params: "mountpoint={{ $labels.mountpoint }}"

The run targets the incident's asset. Its start, approval request and outcome are events on the
incident's timeline (kind ``runbook``); an incident that already has such an event is never
triggered twice, across restarts too.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, insert, select

from opsagent.app import App
from opsagent.crons import cron_trigger, cron_zone
from opsagent.incidents import repo as incident_repo
from opsagent.incidents.model import ACTIVE
from opsagent.runbooks import service
from opsagent.runbooks.approvals import StoreApprover
from opsagent.runbooks.context import ApprovalRequest, RunbookError, RunRequest
from opsagent.runbooks.library import Entry, Library, find, read_library
from opsagent.runbooks.model import RunbookKind
from opsagent.store import runbook_repo as runs
from opsagent.store import schema
from opsagent.store.engine import now

log = logging.getLogger(__name__)
EVENT_KIND = "runbook"
# The incident watcher is woken (``poke``) when this agent's alert engine opens or reopens incidents and
# when a run it started ends; it also looks every WATCH_SECONDS for incidents opened elsewhere (serve sets
# CLUSTER_WATCH_SECONDS in a cluster, whose members open incidents the leader starts the runbooks of).
# Looking every 2 s whatever happened cost an idle agent a store query each time.
WATCH_SECONDS = 30.0
CLUSTER_WATCH_SECONDS = 2.0
ACTOR = "opsagent (runbook)"
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=((?:\"[^\"]*\")|(?:'[^']*')|[^,\s]*)")


def _log_issues(library: Library, previous: Library | None) -> None:
    """Each problem once (not again on every reload while it stays)."""
    seen = {str(i) for i in previous.issues} if previous else set()
    for issue in library.issues:
        if str(issue) not in seen:
            log.error("runbook left out (the others stay usable): %s", issue)


def parse_params(text: str) -> dict[str, str]:
    """``a=1, b="x y"`` → {"a": "1", "b": "x y"}."""
    return {k: v[1:-1] if v[:1] in "\"'" and len(v) >= 2 else v for k, v in _PAIR.findall(text or "")}


def add_event(app: App, incident_id: int, message: str, **detail: Any) -> None:
    with app.store.transaction() as conn:
        conn.execute(
            insert(schema.incident_events).values(
                incident_id=incident_id, at=now(), kind=EVENT_KIND, actor=ACTOR, message=message, detail=detail
            )
        )


def claim(app: App, incident_id: int, runbook: str, agent: str) -> bool:
    """Agents sharing a store: the first to lock the incident row (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL: the others skip it rather than wait) and find no runbook event yet records one and runs
    the runbook; every other agent leaves it. False: another agent has it."""
    t, e = schema.incidents.c, schema.incident_events.c
    with app.store.transaction() as conn:
        locked = conn.execute(select(t.id).where(t.id == incident_id).with_for_update(skip_locked=True)).first()
        if locked is None:
            return False
        if conn.execute(select(e.id).where(e.incident_id == incident_id, e.kind == EVENT_KIND).limit(1)).first():
            return False
        conn.execute(
            insert(schema.incident_events).values(
                incident_id=incident_id, at=now(), kind=EVENT_KIND, actor=ACTOR,
                message=f"runbook {runbook}: taken by agent {agent}", detail={"agent": agent},
            )
        )  # fmt: skip
    return True


def _triggered(app: App, incident_ids: list[int]) -> set[int]:
    e = schema.incident_events.c
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(e.incident_id).where(e.kind == EVENT_KIND, e.incident_id.in_(incident_ids)))
        return {r[0] for r in rows}


def _active_marker(app: App) -> tuple[Any, ...]:
    """Changes whenever the active, unarchived incidents do (one opened, reopened, updated, closed,
    archived): their count, newest id and latest update, in one aggregate row."""
    t, s = schema.incidents.c, schema.incident_service.c
    query = (
        select(func.count(), func.max(t.id), func.max(t.updated_at))
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == t.id))
        .where(t.status.in_(ACTIVE), s.archived_at.is_(None))
    )
    with app.store.engine.connect() as conn:
        return tuple(conn.execute(query).one())


class RunbookService:
    def __init__(self, app: App, entries: dict[str, Entry] | Library, report_dir: Path | None = None) -> None:
        self.app = app
        self.library = entries if isinstance(entries, Library) else Library(entries)
        _log_issues(self.library, None)
        self.report_dir = report_dir or app.config.home / "reports"
        self.tasks: set[asyncio.Task[Any]] = set()
        self._busy: set[int] = set()
        # cluster: only the leader runs scheduled runbooks and starts those of incidents, each claimed
        self.leader: Callable[[], bool] = lambda: True
        self.agent: str | None = None
        self._checked: tuple[Any, ...] | None = None  # (incidents marker, busy) at the last full check
        self.watch_seconds = WATCH_SECONDS
        self._wake: asyncio.Event | None = None

    @property
    def entries(self) -> dict[str, Entry]:
        return self.library.entries

    def reload(self, scheduler: AsyncIOScheduler | None = None) -> Library:
        """Read the runbook files again (an unchanged file is not parsed again: library._read_cached); a file
        now broken keeps its last good version (and says why)."""
        fresh = read_library(self.app.config.roots, previous=self.library)
        _log_issues(fresh, self.library)
        self.library = fresh
        if scheduler is not None:
            self.schedule(scheduler)
        return fresh

    # -- schedule -------------------------------------------------------------------------------
    def schedule(self, scheduler: AsyncIOScheduler) -> int:
        count = 0
        for entry in self.entries.values():
            if entry.runbook.schedule:
                scheduler.add_job(
                    self.run_scheduled,
                    cron_trigger(entry.runbook.schedule, cron_zone(entry.runbook.timezone, self.app.config.zone)),
                    args=(entry.runbook.name,),
                    id=f"runbook:{entry.runbook.name}",
                    replace_existing=True,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=300,
                )
                count += 1
        return count

    async def run_scheduled(self, name: str) -> None:
        if not self.leader():
            return
        entry = self.entries[name]
        request = RunRequest(entry.runbook, actor="opsagent (schedule)", trigger="schedule")
        await self.execute(request)

    async def execute(self, request: RunRequest, approver: StoreApprover | None = None) -> int | None:
        """Run now (never raises: a failure is logged and recorded); the run id."""
        try:
            result = await service.execute(self.app, request, approver or StoreApprover(self.app.store))
        except RunbookError as exc:
            log.warning("runbook %s not run: %s", request.runbook.name, exc)
            return None
        except Exception:
            log.exception("runbook %s failed", request.runbook.name)
            return None
        if request.runbook.kind == RunbookKind.INSPECTION and result.run_id is not None:
            for suffix in (".html", ".md"):
                path = self.report_dir / f"{request.runbook.name}-{result.run_id}{suffix}"
                await asyncio.to_thread(service.write_report, self.app, result.run_id, path)
        log.info("runbook %s run #%s: %s", request.runbook.name, result.run_id, result.status)
        return result.run_id

    def start(self, request: RunRequest, approver: StoreApprover | None = None) -> asyncio.Task[int | None]:
        task = asyncio.create_task(self.execute(request, approver))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- incidents ------------------------------------------------------------------------------
    def poke(self) -> None:
        """Incidents were opened or reopened, or a run ended: look at the incidents now."""
        if self._wake is not None:
            self._wake.set()

    async def watch(self, stop: asyncio.Event) -> None:
        self._wake = wake = asyncio.Event()
        while not stop.is_set():
            wake.clear()
            try:
                await self.check_incidents()
            except Exception:
                log.exception("runbook trigger check failed")
            woken = asyncio.ensure_future(wake.wait())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({woken, stopped}, timeout=self.watch_seconds, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            stopped.cancel()

    async def check_incidents(self) -> list[int]:
        """Start the runbooks of newly opened incidents; returns the incident ids triggered. The active
        incidents are listed only when they changed since the last check or a run ended (every
        incident listed then was started, is running, or has its runbook event): listing and decoding
        hundreds of open incidents every WATCH_SECONDS was most of an idle agent's CPU."""
        if not self.leader():
            return []
        marker = await asyncio.to_thread(_active_marker, self.app)
        if self._checked == (marker, frozenset(self._busy)):
            return []
        incidents = await asyncio.to_thread(incident_repo.list_incidents, self.app.store, ACTIVE, None, 500)
        wanted = [
            i for i in incidents if (i.get("annotations") or {}).get("opsagent_runbook") and i["id"] not in self._busy
        ]
        if not wanted:
            self._checked = (marker, frozenset(self._busy))
            return []
        done = await asyncio.to_thread(_triggered, self.app, [i["id"] for i in wanted])
        started: list[int] = []
        for incident in wanted:
            if incident["id"] in done:
                continue
            name = str((incident.get("annotations") or {}).get("opsagent_runbook"))
            agent = self.agent
            if agent is not None and not await asyncio.to_thread(claim, self.app, incident["id"], name, agent):
                continue
            prepared = await asyncio.to_thread(self._prepare, incident)
            if prepared is not None:
                self._busy.add(incident["id"])
                self._start_and_report(*prepared, int(incident["id"]))
                started.append(incident["id"])
        self._checked = (marker, frozenset(self._busy))
        return started

    def _prepare(self, incident: dict[str, Any]) -> tuple[RunRequest, StoreApprover] | None:
        annotations = incident.get("annotations") or {}
        incident_id = int(incident["id"])
        try:
            entry = find(self.entries, annotations["opsagent_runbook"])
        except RunbookError as exc:
            add_event(self.app, incident_id, f"runbook not run: {exc}")
            return None
        if not incident.get("asset"):
            add_event(self.app, incident_id, f"runbook {entry.runbook.name} not run: the incident names no asset")
            return None
        policy = annotations.get("opsagent_runbook_approval", entry.runbook.approval)
        context = {k: incident.get(k) for k in ("id", "title", "severity", "priority", "asset", "alertname", "status")}
        context |= {"labels": incident.get("labels") or {}, "annotations": annotations, "value": incident.get("value")}
        request = RunRequest(
            entry.runbook,
            selector=str(incident["asset"]),
            params=parse_params(annotations.get("opsagent_runbook_params", "")),
            actor=ACTOR,
            trigger="incident",
            incident=context,
            require_approval=policy == "required",
            on_started=lambda run_id: add_event(
                self.app, incident_id, f"runbook {entry.runbook.name}: run #{run_id} started", run=run_id
            ),
        )
        return request, StoreApprover(self.app.store, on_request=self._approval_event(incident_id))

    def _approval_event(self, incident_id: int) -> Any:
        def on_request(request: ApprovalRequest, approval_id: int) -> None:
            add_event(
                self.app,
                incident_id,
                f"runbook run #{request.run_id} waits for approval #{approval_id}: {request.message} "
                f"(POST /api/v1/runbooks/approvals/{approval_id} or `opsagent runbook approve {approval_id}`)",
                run=request.run_id,
                approval=approval_id,
            )

        return on_request

    def _start_and_report(self, request: RunRequest, approver: StoreApprover, incident_id: int) -> None:
        task = self.start(request, approver)

        def finished(t: asyncio.Task[int | None]) -> None:
            self._busy.discard(incident_id)
            self.poke()
            run_id = None if t.cancelled() else t.result()
            if run_id is None:
                add_event(self.app, incident_id, f"runbook {request.runbook.name} did not run (see the agent's log)")
                return
            run = runs.get_run(self.app.store, run_id)
            if run is not None:
                summary = run["summary"]
                add_event(
                    self.app,
                    incident_id,
                    f"runbook {request.runbook.name}: run #{run_id} {run['status']}"
                    + (f" (failed: {', '.join(summary.get('failed', []))})" if summary.get("failed") else ""),
                    run=run_id,
                    status=run["status"],
                )

        task.add_done_callback(finished)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
