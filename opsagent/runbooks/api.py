"""JSON API for runbooks: the library, runs (the audit trail), approvals, starting a run.

GET  /api/v1/runbooks                     the library
POST /api/v1/runbooks/{name}/run          {"limit": "web*", "params": {...}, "check": false}   (bearer token)
GET  /api/v1/runbooks/runs[?runbook=NAME] recorded runs, newest first
GET  /api/v1/runbooks/runs/{id}           one run: targets, steps (rendered commands, outputs), approvals
GET  /api/v1/runbooks/approvals           pending approvals
POST /api/v1/runbooks/approvals/{id}      {"approve": true, "comment": "…"}                   (bearer token)

Writes need ``Authorization: Bearer <token>`` (see apiauth.py); the run's actor and the approver
recorded are the token's identity. A body naming someone else (``by``/``actor``) is refused (403).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from opsagent.app import App
from opsagent.runbooks.apiauth import Denied, identify
from opsagent.runbooks.context import RunbookError, RunRequest
from opsagent.runbooks.library import find
from opsagent.runbooks.triggers import RunbookService
from opsagent.store import runbook_repo as runs

SERVICE_KEY = web.AppKey("runbooks", RunbookService)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str, ensure_ascii=False))


def _app(request: web.Request) -> App:
    return request.app[SERVICE_KEY].app


def _caller(request: web.Request) -> str | web.Response:
    who = identify(_app(request).config, request.headers.get("Authorization", ""))
    if isinstance(who, Denied):
        headers = {"WWW-Authenticate": "Bearer"} if who.status == 401 else None
        return web.json_response({"error": who.error}, status=who.status, headers=headers)
    return who


def _impersonation(body: dict[str, Any], key: str, who: str) -> web.Response | None:
    named = body.get(key)
    if named not in (None, "", who):
        return _json({"error": f"{key}: this token acts as {who!r}, not {named!r}"}, 403)
    return None


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
    await asyncio.to_thread(runs.reap_interrupted, app.store)
    rows = await asyncio.to_thread(runs.list_runs, app.store, request.query.get("runbook"), 200)
    return _json(rows)


async def get_run(request: web.Request) -> web.Response:
    try:
        run_id = int(request.match_info["id"])
    except ValueError:
        return _json({"error": "run id must be a number"}, 400)
    run = await asyncio.to_thread(runs.get_run, _app(request).store, run_id)
    return _json(run) if run is not None else _json({"error": f"no run #{run_id}"}, 404)


async def list_approvals(request: web.Request) -> web.Response:
    rows = await asyncio.to_thread(runs.list_approvals, _app(request).store, request.query.get("status", "pending"))
    return _json(rows)


async def decide(request: web.Request) -> web.Response:
    by = _caller(request)
    if isinstance(by, web.Response):
        return by
    try:
        approval_id = int(request.match_info["id"])
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return _json({"error": 'expected a JSON body {"approve": true|false, "comment": "why"}'}, 400)
    if not isinstance(body.get("approve"), bool):
        return _json({"error": "give approve (true/false)"}, 400)
    if (denied := _impersonation(body, "by", by)) is not None:
        return denied
    try:
        row = await asyncio.to_thread(
            runs.decide, _app(request).store, approval_id, body["approve"], by, str(body.get("comment", ""))
        )
    except PermissionError as exc:
        return _json({"error": str(exc)}, 403)
    if row is None:
        return _json({"error": f"no pending approval #{approval_id}"}, 404)
    return _json(row)


async def start_run(request: web.Request) -> web.Response:
    who = _caller(request)
    if isinstance(who, web.Response):
        return who
    service = request.app[SERVICE_KEY]
    try:
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            raise ValueError
        entry = find(service.entries, request.match_info["name"])
    except ValueError:
        return _json({"error": "the body must be a JSON object"}, 400)
    except RunbookError as exc:
        return _json({"error": str(exc)}, 404)
    if (denied := _impersonation(body, "actor", who)) is not None:
        return denied
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_started(run_id: int) -> None:
        if not started.done():
            started.set_result(run_id)

    run_request = RunRequest(
        entry.runbook,
        selector=body.get("limit"),
        params={str(k): v for k, v in (body.get("params") or {}).items()},
        check_mode=bool(body.get("check", False)),
        actor=who,
        trigger="api",
        on_started=on_started,
    )
    task = service.start(run_request)
    waiting: list[asyncio.Future[Any]] = [task, started]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED, timeout=30)
    if started.done():
        return _json({"run": started.result(), "status": "running"}, 202)
    return _json({"error": "the run did not start (see the agent's log)"}, 400)


def add_routes(web_app: web.Application, service: RunbookService) -> None:
    web_app[SERVICE_KEY] = service
    web_app.router.add_get("/api/v1/runbooks", library)
    web_app.router.add_get("/api/v1/runbooks/runs", list_runs)
    web_app.router.add_get("/api/v1/runbooks/runs/{id}", get_run)
    web_app.router.add_get("/api/v1/runbooks/approvals", list_approvals)
    web_app.router.add_post("/api/v1/runbooks/approvals/{id}", decide)
    web_app.router.add_post("/api/v1/runbooks/{name}/run", start_run)
