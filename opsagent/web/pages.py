"""The console's pages (GET). Each one's data is also served as JSON: ``?format=json`` here, or the
``/api/v1`` route named on the page (a ticket, an asset)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from opsagent.auth import http as auth
from opsagent.auth.identity import ANONYMOUS
from opsagent.httpd.threads import in_thread
from opsagent.incidents import repo as incident_repo
from opsagent.inventory.facts import unflatten
from opsagent.knowledge.suggest import for_incident
from opsagent.reports.i18n import event_name
from opsagent.store import inventory_repo
from opsagent.store.engine import now
from opsagent.web import asset_extras, queries, queries_desk
from opsagent.web.context import CONSOLE_KEY, Console, base, context, refuse, viewer
from opsagent.web.render import page

REFRESH_SECONDS = 60
INVENTORY_LIMIT = 500  # assets listed at most; a search narrows them


def _json(data: Any) -> web.Response:
    def default(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return web.json_response(data, dumps=lambda d: json.dumps(d, default=default, ensure_ascii=False))


def _wants_json(request: web.Request) -> bool:
    return request.query.get("format") == "json"


async def login_page(request: web.Request) -> web.Response:
    found = auth.caller(request)
    target = request.query.get("next", "/console")
    if found.identity is not ANONYMOUS and not found.refused:
        raise web.HTTPSeeOther("/console")
    console = request.app[CONSOLE_KEY]
    from opsagent.web.context import _accept_language, _lang  # the language before anyone is known

    lang = _lang(request, None, _accept_language(request.headers.get("Accept-Language", "")) or console.app.config.lang)
    ctx = base(request, None, lang, console.app.config.zone) | {"next": target, "failed": "failed" in request.query}
    return page(console.env, "login.html", ctx)


def _assets_down(request: web.Request) -> list[dict[str, str]]:
    metrics = request.app[CONSOLE_KEY].app.metrics
    down = []
    for family in metrics.collect_self():
        if family.name != "opsagent_up":
            continue
        down += [dict(s.labels) for s in family.samples if s.value == 0]
    return sorted(down, key=lambda d: (d.get("asset", ""), d.get("collector", "")))


def _live_clocks(request: web.Request) -> Callable[[int], dict[str, Any]] | None:
    console = request.app[CONSOLE_KEY]
    policy = console.policy
    if policy is None:
        return None
    from opsagent.sla import service

    def clocks(incident_id: int) -> dict[str, Any]:
        found = service.get(console.app.store, policy, incident_id)
        return {name: c.as_dict() for name, c in (found or {}).get("clocks", {}).items()}

    return clocks


async def overview(request: web.Request) -> web.Response:
    who = await viewer(request)
    if not who.can("incident.read") and who.can("request.own"):
        raise web.HTTPSeeOther("/console/requests")  # a requester's home
    refuse(request, who, "incident.read")
    store = request.app[CONSOLE_KEY].app.store
    data = {
        "by_priority": await in_thread(queries.open_by_priority, store),
        "sla_risk": await in_thread(queries.sla_risk, store, now(), _live_clocks(request)),
        "assets_down": _assets_down(request),
        "approvals": await in_thread(queries.approvals_waiting, store),
    }
    if _wants_json(request):
        return _json(data)
    return page(request.app[CONSOLE_KEY].env, "overview.html", context(request, who, **data))


def _queue_page(
    console: Console, wanted: queries.QueueFilter, live: Callable[[int], dict[str, Any]] | None, selects: bool
) -> tuple[queries.QueuePage, dict[str, list[str]]]:
    """A page of the queue with each ticket's requester and next SLA clock, and (for the HTML page) the
    values its selects offer: one trip to a worker thread, not one per read."""
    store = console.app.store
    found = queries.queue(store, wanted, desk=True)
    found = dataclasses.replace(found, rows=queries_desk.with_desk(found.rows, live))
    return found, console.choices.get(lambda: queries.choices(store)) if selects else {}


async def queue(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "incident.read")
    console = request.app[CONSOLE_KEY]
    wanted = queries.QueueFilter.of(request.query)
    as_json = _wants_json(request)
    found, options = await in_thread(_queue_page, console, wanted, _live_clocks(request), not as_json)
    if as_json:
        return _json({"filter": wanted.as_dict()} | found.as_dict())
    ctx = context(request, who, rows=found.rows, older=found.older, searched_from=found.searched_from, f=wanted,
                  options=options, statuses=queries.STATUSES, refresh=REFRESH_SECONDS)  # fmt: skip
    return page(console.env, "queue.html", ctx)


def _ticket(request: web.Request, incident_id: int, lang: str) -> dict[str, Any] | None:
    console = request.app[CONSOLE_KEY]
    store, policy = console.app.store, console.policy
    if policy is not None:
        from opsagent.sla import service

        found = service.get(store, policy, incident_id)
    else:
        found = incident_repo.get(store, incident_id)
    if found is not None:
        found["knowledge"] = for_incident(store, incident_id, lang)
    return found


def _incident_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**31:
        raise web.HTTPNotFound()
    return value


async def ticket(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "incident.read")
    incident_id = _incident_id(request)
    found = await in_thread(_ticket, request, incident_id, who.lang)
    env = request.app[CONSOLE_KEY].env
    if found is None:
        return page(env, "missing.html", context(request, who), status=404)
    clocks = found.pop("clocks", {}) or {}
    ctx = context(request, who, i=found, clocks=clocks, at=now(), event_name=lambda k: event_name(k, who.lang),
                  can_work=who.can("incident.work"), can_ack=who.can("incident.ack"))  # fmt: skip
    return page(env, "ticket.html", ctx)


async def report_pdf(request: web.Request) -> web.Response:
    """The repair report (维修服务报告) as PDF, built by the same code as ``opsagent report incident``."""
    who = await viewer(request)
    refuse(request, who, "report.read")
    incident_id = _incident_id(request)
    console = request.app[CONSOLE_KEY]
    if console.policy is None:
        raise web.HTTPNotFound()
    from opsagent.reports.document import render
    from opsagent.reports.repair import build
    from opsagent.sla import service

    found = await in_thread(service.get, console.app.store, console.policy, incident_id)
    if found is None:
        raise web.HTTPNotFound()
    data = await asyncio.to_thread(lambda: render(build(found, who.lang, who.zone), "pdf"))  # long: default pool
    headers = {"Content-Disposition": f'attachment; filename="incident-{incident_id}.pdf"'}
    return web.Response(body=data, content_type="application/pdf", headers=headers)


async def inventory(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "asset.read")
    q = request.query.get("q", "").strip()[:255]
    store = request.app[CONSOLE_KEY].app.store
    assets, more = await in_thread(inventory_repo.find_assets, store, q, INVENTORY_LIMIT)
    if _wants_json(request):
        return _json([a.model_dump(mode="json") for a in assets])
    ctx = context(request, who, assets=assets, q=q, more=more)
    return page(request.app[CONSOLE_KEY].env, "inventory.html", ctx)


def _asset(console: Console, name: str) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
    """The asset, its facts and the rest of its page: one trip to a worker thread, not one per read."""
    store = console.app.store
    found = inventory_repo.get_asset(store, name)
    if found is None:
        return None
    extras = asset_extras.gather(store, name) | {"metrics": asset_extras.metrics(console.app.metrics, name)}
    return found, inventory_repo.current_facts(store, name), extras


async def asset_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "asset.read")
    console = request.app[CONSOLE_KEY]
    read = await in_thread(_asset, console, request.match_info["name"])
    if read is None:
        return page(console.env, "missing.html", context(request, who), status=404)
    found, facts, extras = read
    if _wants_json(request):
        return _json(found.model_dump(mode="json") | {"facts": unflatten(facts)} | extras)
    ctx = context(request, who, a=found, facts=sorted(facts.items()), **extras)
    return page(console.env, "asset.html", ctx)


async def _email(request: web.Request, name: str) -> str:
    from opsagent.store import user_repo

    user = await in_thread(user_repo.get_user, request.app[CONSOLE_KEY].app.store, name)
    return str((user or {}).get("email") or "")


async def my_requests(request: web.Request) -> web.Response:
    """A requester's own requests (matched by the user's email to the desk's requester record)."""
    who = await viewer(request)
    refuse(request, who, "request.own")
    email = await _email(request, who.identity.name)
    rows = await in_thread(queries.own_requests, request.app[CONSOLE_KEY].app.store, email)
    if _wants_json(request):
        return _json(rows)
    return page(request.app[CONSOLE_KEY].env, "requests.html", context(request, who, rows=rows))
