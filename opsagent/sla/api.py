"""JSON API of ``opsagent serve`` for incidents and service levels.

GET  /api/v1/incidents/{id}              one incident: events, live SLA clocks, service record
GET  /api/v1/followups                   follow-up tasks (``?all=1`` includes done ones)
GET  /api/v1/reports/period?from=&to=    period statistics as JSON
POST /api/v1/incidents/{id}/ack|resolve|feedback|pending|resume|assess|signoff   (bearer token)

Writes need ``Authorization: Bearer <token>`` (``opsagent.auth``): the actor recorded is the token's
identity, and a body naming someone else (``by``) is refused (403); while no token is configured, writes
are refused (503), never allowed. Bodies are validated (``IncidentAction``): a bad one is a 400.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.httpd.body import path_id, read_model
from opsagent.httpd.threads import in_thread
from opsagent.incidents import repo
from opsagent.incidents.repo import IncidentError
from opsagent.knowledge.problems import for_period
from opsagent.reports.period import load_stats, problems_json
from opsagent.sla import service
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store.engine import now

POLICY_KEY = web.AppKey("sla_policy", ServiceLevelPolicy)
SLA_APP_KEY = web.AppKey("sla_app", App)
MAX_TEXT = 10_000


class IncidentAction(BaseModel):
    """The body of ``POST /api/v1/incidents/{id}/{action}`` (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=255, description="the caller's own name, if given at all")
    message: str | None = Field(default=None, max_length=MAX_TEXT)
    comment: str | None = Field(default=None, max_length=MAX_TEXT)
    cause: str | None = Field(default=None, max_length=MAX_TEXT)
    resolution_steps: str | None = Field(default=None, max_length=MAX_TEXT)
    satisfaction: StrictInt | None = Field(default=None, ge=-(2**31), le=2**31)
    signed_by: str | None = Field(default=None, max_length=255)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v), ensure_ascii=False)


def _incident_json(incident: dict[str, Any]) -> dict[str, Any]:
    clocks = incident.pop("clocks", {})
    return incident | {"clocks": {name: c.as_dict() for name, c in clocks.items()}}


async def get_incident(request: web.Request) -> web.Response:
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    incident_id = path_id(request, "incident")
    found = await in_thread(service.get, app.store, policy, incident_id)
    if found is None:
        return web.json_response({"error": f"no incident #{incident_id}"}, status=404)
    return web.json_response(_incident_json(found), dumps=_dumps)


async def followups(request: web.Request) -> web.Response:
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    done = request.query.get("all") in ("1", "true")
    rows = await in_thread(service.followups, app.store, policy, None, done)
    return web.json_response(rows, dumps=_dumps)


def _day(text: str | None, field: str) -> datetime:
    if not text:
        raise ValueError(f"{field} is required (YYYY-MM-DD or an ISO time)")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a date") from None
    if len(text) == 10:
        value = datetime.combine(date.fromisoformat(text), time(0))
    return value


async def period(request: web.Request) -> web.Response:
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    tz = policy.built_calendars[policy.default_calendar].tz
    try:
        start = _day(request.query.get("from"), "from").replace(tzinfo=tz).astimezone(UTC)
        end = _day(request.query.get("to"), "to").replace(tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    stats = await in_thread(load_stats, app.store, policy, start, end, now())
    found = await in_thread(for_period, app.store, start, end)  # the problems section's JSON twin
    return web.json_response(stats.summary() | {"problems": problems_json(found)}, dumps=_dumps)


async def write(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    who = auth.require_permission(request, "incident.ack" if action == "ack" else "incident.work")
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    incident_id = path_id(request, "incident")
    body = await read_model(request, IncidentAction)
    auth.refuse_impersonation(body.by, who, "by")
    try:
        result = await in_thread(_apply, app, policy, incident_id, action, who.name, body)
    except IncidentError as exc:
        status = 404 if str(exc).startswith("no incident") else 409
        return web.json_response({"error": str(exc)}, status=status)
    return web.json_response(_incident_json(result), dumps=_dumps)


def _apply(
    app: App, policy: ServiceLevelPolicy, incident_id: int, action: str, by: str, body: IncidentAction
) -> dict[str, Any]:
    message = body.message or body.comment or ""
    if action in ("ack", "resolve"):
        repo.act(app.store, incident_id, action, by, message, cause=body.cause, resolution_steps=body.resolution_steps)
        service.refresh(app.store, policy, incident_id)
    elif action == "feedback":
        service.act(app.store, policy, incident_id, "followup", by, message, satisfaction=body.satisfaction)
    elif action == "signoff":
        service.act(app.store, policy, incident_id, "signoff", by, message, signed_by=body.signed_by or by)
    else:
        service.act(app.store, policy, incident_id, action, by, message)
    found = service.get(app.store, policy, incident_id)
    assert found is not None
    return found


def add_routes(web_app: web.Application, app: App, policy: ServiceLevelPolicy) -> None:
    auth.install(web_app, app.config, app.store)
    web_app[SLA_APP_KEY] = app
    web_app[POLICY_KEY] = policy
    web_app.router.add_get("/api/v1/incidents/{id}", get_incident)
    web_app.router.add_get("/api/v1/followups", followups)
    web_app.router.add_get("/api/v1/reports/period", period)
    actions = "ack|resolve|feedback|pending|resume|assess|signoff"
    web_app.router.add_post("/api/v1/incidents/{id}/{action:(" + actions + ")}", write)
