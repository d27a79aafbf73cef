"""JSON API of ``opsagent serve`` for incidents and service levels.

GET  /api/v1/incidents/{id}              one incident: events, live SLA clocks, service record
GET  /api/v1/followups                   follow-up tasks (``?all=1`` includes done ones)
GET  /api/v1/reports/period?from=&to=    period statistics as JSON
POST /api/v1/incidents/{id}/ack|resolve|feedback|pending|resume|assess|signoff   (bearer token)

Writes need ``Authorization: Bearer <token>``, the token coming from the config's credential
reference; while that reference does not resolve, writes are refused (503), never allowed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web

from opsagent.app import App
from opsagent.errors import SecretError
from opsagent.incidents import repo
from opsagent.incidents.repo import IncidentError
from opsagent.reports.period import load_stats
from opsagent.secrets import SecretRef
from opsagent.sla import service
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store.engine import now

POLICY_KEY = web.AppKey("sla_policy", ServiceLevelPolicy)
SLA_APP_KEY = web.AppKey("sla_app", App)
MAX_TEXT = 10_000


def _dumps(data: Any) -> str:
    return json.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v), ensure_ascii=False)


def _incident_json(incident: dict[str, Any]) -> dict[str, Any]:
    clocks = incident.pop("clocks", {})
    return incident | {"clocks": {name: c.as_dict() for name, c in clocks.items()}}


def _authorized(request: web.Request) -> web.Response | None:
    app = request.app[SLA_APP_KEY]
    try:
        token = SecretRef.parse(app.config.api_token_ref).resolve().reveal()
    except (SecretError, ValueError):
        return web.json_response({"error": "writes are disabled: no API token is configured"}, status=503)
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(value.strip().encode(), token.encode()):
        return web.json_response(
            {"error": "a valid bearer token is required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return None


async def get_incident(request: web.Request) -> web.Response:
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    try:
        incident_id = int(request.match_info["id"])
    except ValueError:
        return web.json_response({"error": "incident id must be a number"}, status=400)
    found = await asyncio.to_thread(service.get, app.store, policy, incident_id)
    if found is None:
        return web.json_response({"error": f"no incident #{incident_id}"}, status=404)
    return web.json_response(_incident_json(found), dumps=_dumps)


async def followups(request: web.Request) -> web.Response:
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    done = request.query.get("all") in ("1", "true")
    rows = await asyncio.to_thread(service.followups, app.store, policy, None, done)
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
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    stats = await asyncio.to_thread(load_stats, app.store, policy, start, end, now())
    return web.json_response(stats.summary(), dumps=_dumps)


async def write(request: web.Request) -> web.Response:
    denied = _authorized(request)
    if denied is not None:
        return denied
    app, policy = request.app[SLA_APP_KEY], request.app[POLICY_KEY]
    action = request.match_info["action"]
    try:
        incident_id = int(request.match_info["id"])
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    by = str(body.get("by") or "api")[:255]
    message = str(body.get("message") or body.get("comment") or "")[:MAX_TEXT]
    try:
        result = await asyncio.to_thread(_apply, app, policy, incident_id, action, by, message, body)
    except IncidentError as exc:
        status = 404 if str(exc).startswith("no incident") else 409
        return web.json_response({"error": str(exc)}, status=status)
    except (TypeError, ValueError, KeyError) as exc:
        return web.json_response({"error": f"invalid request: {exc}"}, status=400)
    return web.json_response(_incident_json(result), dumps=_dumps)


def _apply(
    app: App, policy: ServiceLevelPolicy, incident_id: int, action: str, by: str, message: str, body: dict[str, Any]
) -> dict[str, Any]:
    if action in ("ack", "resolve"):
        fields = {k: body.get(k) for k in ("cause", "resolution_steps")}
        repo.act(app.store, incident_id, action, by, message, **fields)
        service.refresh(app.store, policy, incident_id)
    elif action == "feedback":
        score = body.get("satisfaction")
        service.act(app.store, policy, incident_id, "followup", by, message,
                    satisfaction=int(score) if score is not None else None)  # fmt: skip
    elif action == "signoff":
        service.act(app.store, policy, incident_id, "signoff", by, message, signed_by=str(body.get("signed_by") or by))
    else:
        service.act(app.store, policy, incident_id, action, by, message)
    found = service.get(app.store, policy, incident_id)
    assert found is not None
    return found


def add_routes(web_app: web.Application, app: App, policy: ServiceLevelPolicy) -> None:
    web_app[SLA_APP_KEY] = app
    web_app[POLICY_KEY] = policy
    web_app.router.add_get("/api/v1/incidents/{id}", get_incident)
    web_app.router.add_get("/api/v1/followups", followups)
    web_app.router.add_get("/api/v1/reports/period", period)
    actions = "ack|resolve|feedback|pending|resume|assess|signoff"
    web_app.router.add_post("/api/v1/incidents/{id}/{action:(" + actions + ")}", write)
