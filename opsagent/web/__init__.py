"""The web console ``opsagent serve`` serves beside its JSON API, on the same port: server-rendered
pages (Jinja2, autoescaped; a site overrides a template by putting one of the same name under
``web/templates/`` of a content root) and vendored static files — no build step, no CDN, no script.

Pages: ``/console`` (overview), ``/console/queue``, ``/console/incidents/{id}``, ``/console/assets``,
``/console/assets/{name}``, ``/console/login``, ``/console/tickets/new``; a requester's portal at
``/console/requests``; the runbook pages under ``/console/runbooks`` (:mod:`opsagent.web.pages_runbooks`).
Sign-in, sessions and CSRF are :mod:`opsagent.auth`'s.
"""

from __future__ import annotations

from aiohttp import web

from opsagent.app import App
from opsagent.auth.http import Handler
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.web import actions, pages, pages_admin, pages_desk, pages_kb, pages_reports, pages_runbooks, portal
from opsagent.web.context import CONSOLE_KEY, LANG_COOKIE, LOGIN, REFRESH_COOKIE, Console
from opsagent.web.render import STATIC, environment

PREFIX = "/console"
REMEMBERED = {LANG_COOKIE: ("zh", "en"), REFRESH_COOKIE: ("on", "off")}  # ?lang=, ?refresh= kept in cookies


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Around the auth middleware, for console pages only: a sign-in is asked for with a redirect to the
    login page rather than a JSON 401; ``?lang=`` and ``?refresh=`` are remembered in cookies."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPUnauthorized:
        if request.method != "GET":
            raise
        raise web.HTTPSeeOther(f"{LOGIN}?next={request.path}") from None
    for cookie, value in ((LANG_COOKIE, request.query.get("lang")), (REFRESH_COOKIE, request.query.get("refresh"))):
        if value in REMEMBERED[cookie] and request.cookies.get(cookie) != value:
            response.set_cookie(cookie, value, httponly=True, samesite="Lax", path="/", max_age=365 * 86400)
    return response


def add_routes(web_app: web.Application, app: App, policy: ServiceLevelPolicy | None = None) -> None:
    """Mount the console (after :func:`opsagent.auth.http.install`)."""
    web_app[CONSOLE_KEY] = Console(app, policy, environment(app.config.roots))
    web_app.middlewares.insert(0, console_middleware)
    r = web_app.router
    r.add_get(LOGIN, pages.login_page)
    r.add_get(PREFIX, pages.overview)
    r.add_get(f"{PREFIX}/queue", pages.queue)
    r.add_post(f"{PREFIX}/queue/ack", actions.bulk_ack)
    r.add_get(PREFIX + "/incidents/{id}", pages.ticket)
    r.add_get(PREFIX + "/incidents/{id}/report.pdf", pages.report_pdf)
    r.add_post(PREFIX + "/incidents/{id}/{action:(" + "|".join(actions.ACTIONS) + ")}", actions.act)
    r.add_get(f"{PREFIX}/requests", pages.my_requests)
    r.add_get(f"{PREFIX}/assets", pages.inventory)
    r.add_get(PREFIX + "/assets/{name}", pages.asset_page)
    pages_runbooks.add_routes(web_app)  # /console/runbooks…: catalogue, runs, approvals, reports
    pages_kb.add_routes(r, PREFIX)  # /console/kb…: browse, search, articles, edit
    r.add_static(f"{PREFIX}/static", STATIC, append_version=False)
    pages_desk.add_routes(web_app)  # new ticket, the ticket's service actions and runbooks
    portal.add_routes(web_app)  # the requester portal: submit, follow, reply, confirm and rate
    pages_reports.add_routes(web_app)
    pages_admin.add_routes(web_app)
