"""JSON API of problem records and on-site visits (``opsagent serve``).

GET  /api/v1/problems?status=                       problems, newest first
GET  /api/v1/problems/suggest?days=&min=            grouping candidates (recurring tickets in no problem)
GET  /api/v1/problems/{id}                          one problem with its tickets
POST /api/v1/problems                               new problem                          (incident.work)
POST /api/v1/problems/{id}                          change root cause, workaround, fix, status (incident.work)
POST /api/v1/problems/{id}/link                     link (or ``unlink``) tickets          (incident.work)
GET  /api/v1/incidents/{id}/visits                  the visits of a ticket
POST /api/v1/incidents/{id}/visits                  plan a visit                          (incident.work)
GET  /api/v1/visits/{id}                            one visit with its notes
GET  /api/v1/visits/{id}/report?lang=&format=       the plan (维修计划书): md, html or pdf
POST /api/v1/visits/{id}/approve|note|signoff                                             (incident.work)

Writes act as the caller's identity; a body names the customer's contact (``by``) but never who the caller
is. Bodies are pydantic models (400 when invalid); a missing record is 404, a step out of order 409.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.httpd.body import error, path_id, read_model
from opsagent.httpd.threads import in_thread
from opsagent.incidents.repo import IncidentError
from opsagent.knowledge import problem_groups, problems, visit_report, visits
from opsagent.knowledge.model import KnowledgeError
from opsagent.knowledge.problems import STATES, LinkIncidents, NewProblem, ProblemChange
from opsagent.knowledge.visits import ApproveIn, NoteIn, PlanIn, SignoffIn, VisitError
from opsagent.reports.document import render
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store.engine import now

WORK_APP_KEY = web.AppKey("work_app", App)
WORK_POLICY_KEY = web.AppKey("work_policy", ServiceLevelPolicy)
PERMISSION = "incident.work"
_TYPES = {"md": "text/markdown", "html": "text/html", "pdf": "application/pdf"}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return await in_thread(fn, *args)
    except (KnowledgeError, VisitError, IncidentError) as exc:
        missing = str(exc).startswith("no ")
        raise error(web.HTTPNotFound if missing else web.HTTPConflict, str(exc)) from None


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name, str(default))
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise error(web.HTTPBadRequest, f"{name}: not a number")
    return max(low, min(int(text), high))


def _store(request: web.Request) -> Any:
    return request.app[WORK_APP_KEY].store


# -- problems ---------------------------------------------------------------------------------------------
async def problems_route(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATES:
        raise error(web.HTTPBadRequest, f"status: must be one of {', '.join(STATES)}")
    return _reply(await _run(problems.list_problems, _store(request), status))


async def suggest_route(request: web.Request) -> web.Response:
    since = now() - timedelta(days=_number(request, "days", 90, 1, 3660))
    least = _number(request, "min", problem_groups.MIN_TICKETS, 2, 10_000)
    return _reply(await _run(problem_groups.candidates, _store(request), since, least))


async def problem_route(request: web.Request) -> web.Response:
    problem_id = path_id(request, "problem")
    found = await _run(problems.get, _store(request), problem_id)
    if found is None:
        raise error(web.HTTPNotFound, f"no problem #{problem_id}")
    return _reply(found)


async def create_problem_route(request: web.Request) -> web.Response:
    who = auth.require_permission(request, PERMISSION)
    body = await read_model(request, NewProblem, empty_ok=False)
    problem_id = await _run(problems.create, _store(request), body, who.name)
    return _reply(await _run(problems.get, _store(request), problem_id), status=201)


async def update_problem_route(request: web.Request) -> web.Response:
    who = auth.require_permission(request, PERMISSION)
    problem_id = path_id(request, "problem")
    change = await read_model(request, ProblemChange, empty_ok=False)
    changed = await _run(problems.update_problem, _store(request), problem_id, change, who.name)
    return _reply(await _run(problems.get, _store(request), problem_id) | {"changed": changed})


async def link_route(request: web.Request) -> web.Response:
    who = auth.require_permission(request, PERMISSION)
    problem_id = path_id(request, "problem")
    body = await read_model(request, LinkIncidents, empty_ok=False)
    changed = await _run(problems.link, _store(request), problem_id, body.incidents, who.name, body.unlink)
    return _reply({"id": problem_id, "unlinked" if body.unlink else "linked": changed})


# -- visits -----------------------------------------------------------------------------------------------
async def incident_visits_route(request: web.Request) -> web.Response:
    return _reply(await _run(visits.for_incident, _store(request), path_id(request, "incident")))


async def plan_route(request: web.Request) -> web.Response:
    who = auth.require_permission(request, PERMISSION)
    incident_id = path_id(request, "incident")
    body = await read_model(request, PlanIn, empty_ok=False)
    policy = request.app[WORK_POLICY_KEY]
    visit_id = await _run(visits.plan, _store(request), policy, incident_id, body, who.name)
    return _reply(await _run(visits.get, _store(request), visit_id), status=201)


async def _visit(request: web.Request) -> dict[str, Any]:
    visit_id = path_id(request, "visit")
    found = await _run(visits.get, _store(request), visit_id)
    if found is None:
        raise error(web.HTTPNotFound, f"no visit #{visit_id}")
    return dict(found)


async def visit_route(request: web.Request) -> web.Response:
    return _reply(await _visit(request))


async def visit_report_route(request: web.Request) -> web.Response:
    lang, fmt = request.query.get("lang", "zh"), request.query.get("format", "html")
    if lang not in ("zh", "en"):
        raise error(web.HTTPBadRequest, "lang: must be zh or en")
    if fmt not in _TYPES:
        raise error(web.HTTPBadRequest, "format: must be one of md, html, pdf")
    found = await _visit(request)
    app, policy = request.app[WORK_APP_KEY], request.app[WORK_POLICY_KEY]
    tz = app.config.zone if app.config.timezone else policy.built_calendars[policy.default_calendar].tz
    data = await asyncio.to_thread(render, visit_report.build(found, lang, tz), fmt)  # a PDF: the default pool
    return web.Response(body=data, content_type=_TYPES[fmt], charset=None if fmt == "pdf" else "utf-8")


async def visit_action_route(request: web.Request) -> web.Response:
    who = auth.require_permission(request, PERMISSION)
    visit_id, action, store = path_id(request, "visit"), request.match_info["action"], _store(request)
    if action == "approve":
        await _run(visits.approve, store, visit_id, await read_model(request, ApproveIn, empty_ok=False), who.name)
    elif action == "note":
        await _run(visits.note, store, visit_id, await read_model(request, NoteIn, empty_ok=False), who.name)
    else:
        body = await read_model(request, SignoffIn, empty_ok=False)
        await _run(visits.signoff, store, request.app[WORK_POLICY_KEY], visit_id, body, who.name)
    return _reply(await _visit(request))


def add_routes(web_app: web.Application, app: App, policy: ServiceLevelPolicy) -> None:
    auth.install(web_app, app.config, app.store)
    web_app[WORK_APP_KEY] = app
    web_app[WORK_POLICY_KEY] = policy
    add = web_app.router
    add.add_get("/api/v1/problems", problems_route)
    add.add_post("/api/v1/problems", create_problem_route)
    add.add_get("/api/v1/problems/suggest", suggest_route)
    add.add_get("/api/v1/problems/{id}", problem_route)
    add.add_post("/api/v1/problems/{id}", update_problem_route)
    add.add_post("/api/v1/problems/{id}/link", link_route)
    add.add_get("/api/v1/incidents/{id}/visits", incident_visits_route)
    add.add_post("/api/v1/incidents/{id}/visits", plan_route)
    add.add_get("/api/v1/visits/{id}", visit_route)
    add.add_get("/api/v1/visits/{id}/report", visit_report_route)
    add.add_post("/api/v1/visits/{id}/{action:(approve|note|signoff)}", visit_action_route)
