"""The ticket page's emergency runbooks: those the incident's alert rule links (the ``opsagent_runbook``
annotation, as :mod:`opsagent.runbooks.triggers` reads it), each with a run button. A run started here
goes through the runbook service as ``POST /api/v1/runbooks/{name}/run`` does, as the signed-in user,
against the incident's asset with the rule's parameters and approval policy; its start and end are
events on the ticket's timeline, and the page then links to the run (``/console/runbooks/runs/{id}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from opsagent.auth import http as auth
from opsagent.errors import OpsAgentError
from opsagent.httpd.threads import in_thread
from opsagent.incidents import repo as incident_repo
from opsagent.runbooks.api import SERVICE_KEY
from opsagent.runbooks.approvals import StoreApprover
from opsagent.runbooks.context import ApprovalRequest, RunRequest
from opsagent.runbooks.library import Entry, find
from opsagent.runbooks.triggers import RunbookService, add_event, parse_params
from opsagent.store import runbook_repo
from opsagent.web.context import CONSOLE_KEY, context, viewer
from opsagent.web.pages import _incident_id
from opsagent.web.render import error_page

RUN_PAGE = "/console/runbooks/runs/{}"
START_TIMEOUT = 30.0


def linked(service: RunbookService | None, incident: dict[str, Any]) -> list[Entry]:
    """The runbooks the incident's alert links (found in the library; none without an asset)."""
    name = (incident.get("annotations") or {}).get("opsagent_runbook")
    if service is None or not name or not incident.get("asset"):
        return []
    try:
        return [find(service.entries, str(name))]
    except OpsAgentError:
        return []


def _pending(events: list[dict[str, Any]]) -> bool:
    kinds = ("pending", "resumed", "resolved", "reopened", "closed", "acknowledged")
    last = [e["kind"] for e in events if e.get("kind") in kinds]
    return bool(last) and last[-1] == "pending"


def _runs(events: list[dict[str, Any]]) -> list[int]:
    found = [(e.get("detail") or {}).get("run") for e in events if e.get("kind") == "runbook"]
    return sorted({int(r) for r in found if isinstance(r, int)})


def extras(web_app: web.Application) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What the ticket page's desk section shows of an incident (a template global): waiting on the
    requester or not, linked runbooks, runs recorded on the timeline."""

    def of(incident: dict[str, Any]) -> dict[str, Any]:
        events = incident.get("events") or []
        entries = linked(web_app.get(SERVICE_KEY), incident)
        runbooks = [{"name": e.runbook.name, "description": e.runbook.description} for e in entries]
        return {"pending": _pending(events), "runbooks": runbooks, "runs": _runs(events), "run_page": RUN_PAGE}

    return of


def _request(app: Any, incident: dict[str, Any], entry: Entry, actor: str, started: Callable[[int], None]) -> Any:
    annotations = incident.get("annotations") or {}
    incident_id = int(incident["id"])
    policy = annotations.get("opsagent_runbook_approval", entry.runbook.approval)
    ctx = {k: incident.get(k) for k in ("id", "title", "severity", "priority", "asset", "alertname", "status")}
    ctx |= {"labels": incident.get("labels") or {}, "annotations": annotations, "value": incident.get("value")}

    def on_started(run_id: int) -> None:
        add_event(app, incident_id, f"runbook {entry.runbook.name}: run #{run_id} started by {actor}", run=run_id)
        started(run_id)

    params = parse_params(annotations.get("opsagent_runbook_params", ""))
    request = RunRequest(
        entry.runbook, selector=str(incident["asset"]), params=params, actor=actor, trigger="incident",
        incident=ctx, require_approval=policy == "required", on_started=on_started,
    )  # fmt: skip

    def on_request(asked: ApprovalRequest, approval_id: int) -> None:  # the approvals inbox has it; so does the ticket
        add_event(app, incident_id, f"runbook run #{asked.run_id} waits for approval #{approval_id}: {asked.message}",
                  run=asked.run_id, approval=approval_id)  # fmt: skip

    return request, StoreApprover(app.store, on_request=on_request)


def _finished(app: Any, incident_id: int, name: str) -> Callable[[asyncio.Task[int | None]], None]:
    def done(task: asyncio.Task[int | None]) -> None:
        run_id = None if task.cancelled() or task.exception() is not None else task.result()
        if run_id is None:
            return
        run = runbook_repo.get_run(app.store, run_id)
        if run is not None:
            add_event(app, incident_id, f"runbook {name}: run #{run_id} {run['status']}", run=run_id,
                      status=run["status"])  # fmt: skip

    return done


async def run(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    identity = auth.require_permission(request, "runbook.run")
    incident_id = _incident_id(request)
    service = request.app.get(SERVICE_KEY)
    console = request.app[CONSOLE_KEY]
    incident = await in_thread(incident_repo.get, console.app.store, incident_id)
    name = request.match_info["name"]
    entries = [e for e in linked(service, incident or {}) if e.runbook.name == name]
    if service is None or incident is None or not entries:
        raise web.HTTPNotFound()  # only a runbook the ticket links is started from it
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_started(run_id: int) -> None:
        if not started.done():
            started.set_result(run_id)

    loop = asyncio.get_running_loop()

    def threadsafe(run_id: int) -> None:
        loop.call_soon_threadsafe(on_started, run_id)

    run_request, approver = _request(service.app, incident, entries[0], identity.name, threadsafe)
    task = service.start(run_request, approver)
    task.add_done_callback(_finished(service.app, incident_id, name))
    waiting: list[asyncio.Future[Any]] = [task, started]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED, timeout=START_TIMEOUT)
    if started.done():
        raise web.HTTPSeeOther(RUN_PAGE.format(started.result()))
    ctx = context(request, who, message=f"runbook {name}: the run did not start (see the agent's log)",
                  back=f"/console/incidents/{incident_id}")  # fmt: skip
    raise error_page(web.HTTPConflict, console.env, "failed.html", ctx)


def add_routes(web_app: web.Application) -> None:
    web_app.router.add_post("/console/incidents/{id}/runbooks/{name}/run", run)
