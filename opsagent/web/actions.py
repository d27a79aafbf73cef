"""The console's forms (POST): ack, assign, note, resolve, reopen, follow-up on a ticket and bulk ack
in the queue. The auth middleware has already checked the session's CSRF token and the Origin; each
route checks the permission itself and calls the same services as the CLI and the JSON API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from opsagent.auth import http as auth
from opsagent.httpd.threads import in_thread
from opsagent.incidents import repo
from opsagent.incidents.model import Status
from opsagent.incidents.repo import IncidentError
from opsagent.web.context import CONSOLE_KEY, Console, context, viewer
from opsagent.web.pages import _incident_id
from opsagent.web.render import error_page

ACTIONS = ("ack", "assign", "note", "resolve", "reopen", "followup")
MAX_TEXT = 10_000
MAX_BULK = 200


def _text(form: Any, name: str, limit: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _apply(console: Console, incident_id: int, action: str, actor: str, form: Any) -> None:
    store, policy = console.app.store, console.policy
    message = _text(form, "message")
    if action == "followup":
        if policy is None:
            raise IncidentError("follow-ups need the service-level policy")
        from opsagent.sla import service

        score = _text(form, "satisfaction", 2)
        satisfaction = int(score) if score.isdigit() else None
        service.act(store, policy, incident_id, "followup", actor, message, satisfaction=satisfaction)
        return
    fields: dict[str, Any] = {}
    if action == "assign":
        fields["assignee"] = _text(form, "assignee", 255) or actor
    elif action == "resolve":
        fields = {"cause": _text(form, "cause") or None, "resolution_steps": _text(form, "resolution_steps") or None}
    repo.act(store, incident_id, action, actor, message, **fields)
    if policy is not None:
        from opsagent.sla import service

        service.refresh(store, policy, incident_id)


async def act(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    action = request.match_info["action"]
    identity = auth.require_permission(request, "incident.ack" if action == "ack" else "incident.work")
    incident_id = _incident_id(request)
    form = await request.post()
    console = request.app[CONSOLE_KEY]
    try:
        await in_thread(_apply, console, incident_id, action, identity.name, form)
    except (IncidentError, ValueError) as exc:
        ctx = context(request, who, message=str(exc), back=f"/console/incidents/{incident_id}")
        raise error_page(web.HTTPConflict, console.env, "failed.html", ctx) from None
    raise web.HTTPSeeOther(f"/console/incidents/{incident_id}")


def _bulk_ack(console: Console, ids: list[int], actor: str) -> int:
    done = 0
    for incident_id in ids:
        found = repo.get(console.app.store, incident_id)
        if found is None or found["status"] != Status.OPEN.value:
            continue  # only open incidents: an acknowledged one needs nothing
        repo.act(console.app.store, incident_id, "ack", actor, "")
        if console.policy is not None:
            from opsagent.sla import service

            service.refresh(console.app.store, console.policy, incident_id)
        done += 1
    return done


async def bulk_ack(request: web.Request) -> web.StreamResponse:
    await viewer(request)
    identity = auth.require_permission(request, "incident.ack")
    form = await request.post()
    ids = sorted({int(v) for v in form.getall("id", []) if isinstance(v, str) and v.isdigit() and len(v) < 10})
    await in_thread(_bulk_ack, request.app[CONSOLE_KEY], ids[:MAX_BULK], identity.name)
    back = _text(form, "back", 2000)
    raise web.HTTPSeeOther(back if back.startswith("/console/queue") else "/console/queue")
