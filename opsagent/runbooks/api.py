"""JSON API for runbooks: the library, runs (the audit trail), approvals, starting a run.

GET  /api/v1/runbooks                     the library
POST /api/v1/runbooks/{name}/run          {"limit": "web*", "params": {...}, "check": false}   (bearer token)
GET  /api/v1/runbooks/runs[?runbook=NAME] recorded runs, newest first
GET  /api/v1/runbooks/runs/{id}           one run: targets, steps (rendered commands, outputs), approvals
GET  /api/v1/runbooks/approvals           pending approvals
POST /api/v1/runbooks/approvals/{id}      {"approve": true, "comment": "…"}                   (bearer token)

Writes need ``Authorization: Bearer <token>`` (``opsagent.auth``); the run's actor and the approver
recorded are the token's identity. A body naming someone else (``by``/``actor``) is refused (403).
Bodies are validated (``Decision``, ``StartRun``): a bad one is a 400.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.httpd.body import path_id, read_model
from opsagent.httpd.threads import in_thread
from opsagent.runbooks.context import RunbookError, RunRequest
from opsagent.runbooks.library import find
from opsagent.runbooks.triggers import RunbookService
from opsagent.store import runbook_repo as runs

SERVICE_KEY = web.AppKey("runbooks", RunbookService)
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool
ParamValue = Scalar | list[Scalar] | None


class Decision(BaseModel):
    """``POST /api/v1/runbooks/approvals/{id}``."""

    model_config = ConfigDict(extra="forbid")

    approve: StrictBool
    comment: str = Field(default="", max_length=10_000)
    by: str | None = Field(default=None, max_length=255, description="the caller's own name, if given at all")


class StartRun(BaseModel):
    """``POST /api/v1/runbooks/{name}/run``."""

    model_config = ConfigDict(extra="forbid")

    limit: str | None = Field(default=None, max_length=10_000)
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=1000)
    check: StrictBool = False
    actor: str | None = Field(default=None, max_length=255, description="the caller's own name, if given at all")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str, ensure_ascii=False))


def _app(request: web.Request) -> App:
    return request.app[SERVICE_KEY].app


async def library(request: web.Request) -> web.Response:
    entries = request.app[SERVICE_KEY].entries
    return _json(
        [
            {"name": e.runbook.name, "ref": e.ref, "kind": e.runbook.kind.value, "description": e.runbook.description,
             "targets": e.runbook.targets, "schedule": e.runbook.schedule,
             "parameters": {k: v.model_dump() for k, v in e.runbook.parameters.items()}}
            for e in sorted(entries.values(), key=lambda e: e.runbook.name)
        ]
    )  # fmt: skip


async def list_runs(request: web.Request) -> web.Response:
    app = _app(request)
    await in_thread(runs.reap_interrupted, app.store)
    rows = await in_thread(runs.list_runs, app.store, request.query.get("runbook"), 200)
    return _json(rows)


async def get_run(request: web.Request) -> web.Response:
    run_id = path_id(request, "run")
    run = await in_thread(runs.get_run, _app(request).store, run_id)
    return _json(run) if run is not None else _json({"error": f"no run #{run_id}"}, 404)


async def list_approvals(request: web.Request) -> web.Response:
    rows = await in_thread(runs.list_approvals, _app(request).store, request.query.get("status", "pending"))
    return _json(rows)


async def decide(request: web.Request) -> web.Response:
    who = auth.require_permission(request, "runbook.approve")
    approval_id = path_id(request, "approval")
    body = await read_model(request, Decision, empty_ok=False)
    auth.refuse_impersonation(body.by, who, "by")
    try:
        row = await in_thread(runs.decide, _app(request).store, approval_id, body.approve, who.name, body.comment)
    except PermissionError as exc:
        return _json({"error": str(exc)}, 403)
    if row is None:
        return _json({"error": f"no pending approval #{approval_id}"}, 404)
    return _json(row)


async def start_run(request: web.Request) -> web.Response:
    who = auth.require_permission(request, "runbook.run")
    service = request.app[SERVICE_KEY]
    try:
        entry = find(service.entries, request.match_info["name"])
    except RunbookError as exc:
        return _json({"error": str(exc)}, 404)
    body = await read_model(request, StartRun)
    auth.refuse_impersonation(body.actor, who, "actor")
    params: dict[str, Any] = dict(body.params)
    run_request = RunRequest(
        entry.runbook, selector=body.limit, params=params, check_mode=body.check, actor=who.name, trigger="api"
    )
    run_id = await launch(service, run_request)
    if run_id is not None:
        return _json({"run": run_id, "status": "running"}, 202)
    return _json({"error": "the run did not start (see the agent's log)"}, 400)


async def launch(service: RunbookService, run_request: RunRequest, wait: float = 30) -> int | None:
    """Start a run in the background (the API and the console); its id once it is on record, None
    when it did not start (bad parameters, no target: logged)."""
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_started(run_id: int) -> None:
        if not started.done():
            started.set_result(run_id)

    run_request.on_started = on_started
    task = service.start(run_request)
    waiting: list[asyncio.Future[Any]] = [task, started]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED, timeout=wait)
    return started.result() if started.done() else None


def add_routes(web_app: web.Application, service: RunbookService) -> None:
    auth.install(web_app, service.app.config, service.app.store)
    web_app[SERVICE_KEY] = service
    web_app.router.add_get("/api/v1/runbooks", library)
    web_app.router.add_get("/api/v1/runbooks/runs", list_runs)
    web_app.router.add_get("/api/v1/runbooks/runs/{id}", get_run)
    web_app.router.add_get("/api/v1/runbooks/approvals", list_approvals)
    web_app.router.add_post("/api/v1/runbooks/approvals/{id}", decide)
    web_app.router.add_post("/api/v1/runbooks/{name}/run", start_run)
