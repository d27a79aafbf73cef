"""The service desk's console pages: the new-ticket form an agent fills during a call (requester lookup
as you type with the vendored htmx, or with a button without script), and the ticket page's service
actions beyond the common ones (pending/resume, assess, classify, close, sign-off) and its linked
emergency runbooks with a run button.

The form opens the ticket through the desk's one intake path (:func:`opsagent.desk.intake.open_ticket`,
as ``POST /api/v1/tickets`` and ``opsagent desk log`` do) as the signed-in user; the actions call the
same services as the CLI and the API; a run starts through the runbook service as the API's does.
Every route checks its permission server-side; the auth middleware has checked the CSRF token.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from opsagent.auth import http as auth
from opsagent.desk.api import DESK_KEY, Desk
from opsagent.desk.intake import IntakeError
from opsagent.errors import SelectorError
from opsagent.httpd.threads import in_thread
from opsagent.incidents import repo as incident_repo
from opsagent.incidents.repo import IncidentError
from opsagent.web import desk_form, queries_desk
from opsagent.web.actions import _text
from opsagent.web.context import CONSOLE_KEY, Viewer, context, refuse, viewer
from opsagent.web.pages import _incident_id
from opsagent.web.render import CSP, error_page, page

NEW = "/console/tickets/new"
LOOKUP = "/console/requesters/lookup"
# the new-ticket page loads the vendored htmx from /console/static (no inline script, no eval)
SCRIPT_CSP = CSP.replace("default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';")
SERVICE_ACTIONS = ("pending", "resume", "assess", "classify", "close", "signoff")


def _desk(request: web.Request) -> Desk:
    desk = request.app.get(DESK_KEY)
    if desk is None:  # no service-level policy: no desk
        raise web.HTTPNotFound()
    return desk


def _with_script(response: web.Response) -> web.Response:
    response.headers["Content-Security-Policy"] = SCRIPT_CSP
    return response


async def _form_context(request: web.Request, who: Viewer, desk: Desk, **data: Any) -> dict[str, Any]:
    inv = await in_thread(desk.app.inventory)
    return context(
        request, who, categories=desk_form.category_choices(desk.content, who.lang),
        teams=desk_form.teams(desk.content), asset_names=sorted(inv.assets)[:1000], channels=desk_form.CHANNELS,
        types=desk_form.TYPES, levels=desk_form.LEVELS, **data,
    )  # fmt: skip


async def _render_form(
    request: web.Request, who: Viewer, desk: Desk, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> web.Response:
    store = desk.app.store
    matches = await in_thread(queries_desk.lookup, store, values.get("requester_q", ""))
    chosen = None
    if values.get("requester_id", "").isdigit() and len(values["requester_id"]) < 10:
        chosen = await in_thread(queries_desk.requester_name, store, int(values["requester_id"]))
    ctx = await _form_context(request, who, desk, v=values, errors=errors, matches=matches, chosen=chosen,
                              looked_up=bool(values.get("requester_q")))  # fmt: skip
    return _with_script(page(request.app[CONSOLE_KEY].env, "new_ticket.html", ctx, status=status))


async def new_ticket(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    desk = _desk(request)
    values = desk_form.values_of(request.query)
    values["channel"] = values["channel"] or "phone"
    return await _render_form(request, who, desk, values, {})


async def create_ticket(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    desk = _desk(request)
    form = await request.post()
    values = desk_form.values_of(form)
    if form.get("do") == "lookup":  # the lookup button (the page without script): show matches, keep input
        return await _render_form(request, who, desk, values, {})
    req, errors = desk_form.build(values)
    if req is None:
        return await _render_form(request, who, desk, values, errors, status=400)
    try:
        opened = await in_thread(desk.open, req, who.identity.name)
    except SelectorError as exc:
        return await _render_form(request, who, desk, values, {"assets": str(exc)}, status=400)
    except IntakeError as exc:
        message = str(exc)
        field = desk_form.intake_field(message)
        return await _render_form(request, who, desk, values, {field: message}, status=400)
    raise web.HTTPSeeOther(f"/console/incidents/{opened['id']}")


async def lookup(request: web.Request) -> web.Response:
    """The matches for what the agent typed: a fragment for htmx, the whole form otherwise."""
    who = await viewer(request)
    refuse(request, who, "incident.work")
    desk = _desk(request)
    text = request.query.get("requester_q", "")
    if request.headers.get("HX-Request") != "true":
        raise web.HTTPSeeOther(f"{NEW}?{request.query_string}")
    matches = await in_thread(queries_desk.lookup, desk.app.store, text)
    ctx = context(request, who, matches=matches, looked_up=bool(text.strip()), v={"requester_id": ""})
    return _with_script(page(request.app[CONSOLE_KEY].env, "requester_matches.html", ctx))


# -- the ticket page's service actions ---------------------------------------------------------------
def _service_apply(desk: Desk, incident_id: int, action: str, actor: str, form: Any) -> None:
    store, policy = desk.app.store, desk.policy
    from opsagent.sla import service

    message = _text(form, "message")
    if action == "close":
        incident_repo.act(store, incident_id, "close", actor, message)
        service.refresh(store, policy, incident_id)
    elif action == "signoff":
        signed_by = _text(form, "signed_by", 255)
        if not signed_by:
            raise IncidentError("signed_by: the name of who signs the repair report is required")
        service.act(store, policy, incident_id, "signoff", actor, message, signed_by=signed_by)
    elif action == "classify":
        fields = {k: _text(form, k) or None for k in ("impact", "urgency", "symptom", "result")}
        for level in ("impact", "urgency"):
            if fields[level] is not None and fields[level] not in desk_form.LEVELS:
                raise IncidentError(f"{level}: one of {', '.join(desk_form.LEVELS)}")
        service.act(store, policy, incident_id, "classify", actor, message, **fields)
    else:
        service.act(store, policy, incident_id, action, actor, message)


async def service_action(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    identity = auth.require_permission(request, "incident.work")
    action = request.match_info["action"]
    incident_id = _incident_id(request)
    desk = _desk(request)
    form = await request.post()
    try:
        await in_thread(_service_apply, desk, incident_id, action, identity.name, form)
    except (IncidentError, ValueError) as exc:
        console = request.app[CONSOLE_KEY]
        ctx = context(request, who, message=str(exc), back=f"/console/incidents/{incident_id}")
        raise error_page(web.HTTPConflict, console.env, "failed.html", ctx) from None
    raise web.HTTPSeeOther(f"/console/incidents/{incident_id}")


def add_routes(web_app: web.Application) -> None:
    """Mount the desk's console pages (after :func:`opsagent.web.add_routes`)."""
    from opsagent.web import runbook_link

    r = web_app.router
    r.add_get(NEW, new_ticket)
    r.add_post(NEW, create_ticket)
    r.add_get(LOOKUP, lookup)
    r.add_post("/console/incidents/{id}/{action:(" + "|".join(SERVICE_ACTIONS) + ")}", service_action)
    runbook_link.add_routes(web_app)
    web_app[CONSOLE_KEY].env.globals["desk_extras"] = runbook_link.extras(web_app)
