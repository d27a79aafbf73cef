"""The requester portal (the online channel, 在线客服): a requester signs in, submits a request
(``source`` = ``portal``, the requester being the signed-in user's desk record, matched by email), follows
its status on a public timeline (no internal notes), replies, confirms the resolution with a rating or
says it is not fixed. Another requester's ticket, or one that does not exist, is refused alike (403, as
``/console/requests/{id}`` always did): the answer never tells whether it exists. A submitted form
carrying a field it does not offer (a forged requester, team, channel …) is refused, not ignored."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from opsagent.desk import portal as desk_portal
from opsagent.desk.intake import IntakeError
from opsagent.httpd.threads import in_thread
from opsagent.incidents.repo import IncidentError
from opsagent.reports.i18n import event_name
from opsagent.store import user_repo
from opsagent.web import desk_form, queries, queries_desk
from opsagent.web.actions import _text
from opsagent.web.context import CONSOLE_KEY, Viewer, context, refuse, viewer
from opsagent.web.pages import _incident_id, _json, _wants_json
from opsagent.web.pages_desk import _desk
from opsagent.web.render import error_page, page
from opsagent.web.words import translator

NEW = "/console/requests/new"
SUBMIT_FIELDS = frozenset({"csrf_token", "title", "type", "category", "description"})
ACTIONS = {"reply": frozenset({"csrf_token", "message"}),
           "confirm": frozenset({"csrf_token", "satisfaction", "message"}),
           "reopen": frozenset({"csrf_token", "message"})}  # fmt: skip


async def _user(request: web.Request, who: Viewer) -> dict[str, Any]:
    found = await in_thread(user_repo.get_user, request.app[CONSOLE_KEY].app.store, who.identity.name)
    return found or {}


def _refused(request: web.Request, who: Viewer) -> web.HTTPException:
    return error_page(web.HTTPForbidden, request.app[CONSOLE_KEY].env, "refused.html", context(request, who))


def _forged(form: Any, allowed: frozenset[str]) -> bool:
    return any(key not in allowed for key in form) or any(len(form.getall(key)) > 1 for key in form)


async def _form_page(request: web.Request, who: Viewer, values: dict[str, str], errors: dict[str, str],
                     status: int = 200) -> web.Response:  # fmt: skip
    desk = _desk(request)
    email = str((await _user(request, who)).get("email") or "")
    ctx = context(request, who, v=values, errors=errors, email=email, types=desk_form.TYPES,
                  categories=desk_form.category_choices(desk.content, who.lang))  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "portal_new.html", ctx, status=status)


async def new_request(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "request.submit")
    return await _form_page(request, who, desk_form.values_of({}), {})


async def submit(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "request.submit")
    desk = _desk(request)
    form = await request.post()
    if _forged(form, SUBMIT_FIELDS):
        raise _refused(request, who)
    values = desk_form.values_of(form)
    user = await _user(request, who)
    email = str(user.get("email") or "")
    if not email:
        return await _form_page(request, who, values, {"form": "no email on your account"}, status=400)
    req, errors = desk_form.portal_request(values, email, who.display, who.lang)
    if req is None:
        return await _form_page(request, who, values, errors, status=400)
    try:
        opened = await in_thread(desk.open, req, who.identity.name)
    except IntakeError as exc:
        message = str(exc)
        return await _form_page(request, who, values, {desk_form.intake_field(message): message}, status=400)
    raise web.HTTPSeeOther(f"/console/requests/{opened['id']}")


async def _own(request: web.Request, who: Viewer, incident_id: int) -> dict[str, Any]:
    """The viewer's own request, else the refusal (the same for another's and for none)."""
    email = str((await _user(request, who)).get("email") or "")
    found = await in_thread(queries.own_request, request.app[CONSOLE_KEY].app.store, email, incident_id)
    if found is None:
        raise _refused(request, who)
    return found


async def request_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "request.own")
    incident_id = _incident_id(request)
    found = await _own(request, who, incident_id)
    store = request.app[CONSOLE_KEY].app.store
    found["events"] = await in_thread(queries_desk.public_timeline, store, incident_id)
    service = await in_thread(queries_desk.service_of, store, incident_id)
    found["satisfaction"], found["feedback"] = service.get("satisfaction"), service.get("feedback") or ""
    if _wants_json(request):
        return _json(found)
    ctx = context(request, who, r=found, event_name=lambda k: _event_name(k, who),
                  can_confirm=found["status"] == "resolved" and service.get("followed_up_at") is None,
                  can_reopen=found["status"] in ("resolved", "closed"))  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "request.html", ctx)


def _event_name(kind: str, who: Viewer) -> str:
    if kind == "reply":
        return translator(who.lang)("Your reply")
    return event_name(kind, who.lang)


def _apply(desk: Any, action: str, incident_id: int, actor: str, form: Any) -> None:
    message = _text(form, "message")
    if action == "reply":
        desk_portal.reply(desk.app.store, desk.policy, incident_id, actor, message)
    elif action == "confirm":
        score = _text(form, "satisfaction", 2)
        if not score.isdigit():
            raise IncidentError("satisfaction is a score from 1 to 5")
        desk_portal.confirm(desk.app.store, desk.policy, incident_id, actor, int(score), message)
    else:
        desk_portal.not_fixed(desk.app.store, desk.policy, incident_id, actor, message)


async def act(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    refuse(request, who, "request.own")
    action = request.match_info["action"]
    incident_id = _incident_id(request)
    form = await request.post()
    await _own(request, who, incident_id)  # before anything else is looked at
    if _forged(form, ACTIONS[action]):
        raise _refused(request, who)
    try:
        await in_thread(_apply, _desk(request), action, incident_id, who.identity.name, form)
    except (IncidentError, ValueError) as exc:
        ctx = context(request, who, message=str(exc), back=f"/console/requests/{incident_id}")
        raise error_page(web.HTTPConflict, request.app[CONSOLE_KEY].env, "failed.html", ctx) from None
    raise web.HTTPSeeOther(f"/console/requests/{incident_id}")


def add_routes(web_app: web.Application) -> None:
    """Mount the portal (from :func:`opsagent.web.add_routes`)."""
    r = web_app.router
    r.add_get(NEW, new_request)
    r.add_post(NEW, submit)
    r.add_get("/console/requests/{id:\\d+}", request_page)
    r.add_post("/console/requests/{id:\\d+}/{action:(reply|confirm|reopen)}", act)
