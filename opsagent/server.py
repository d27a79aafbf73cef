"""HTTP: ``/metrics`` (Prometheus), ``/healthz``, and a small JSON API over the inventory."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import text

from opsagent import __version__, scrape
from opsagent.alerts.alertmanager import WebhookPayload
from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.state import EXTERNAL
from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.auth import web as auth_web
from opsagent.desk import api as desk_api
from opsagent.httpd import threads, timing
from opsagent.httpd.body import read_model
from opsagent.httpd.threads import in_thread
from opsagent.incidents import repo as incident_repo
from opsagent.incidents.model import ACTIVE
from opsagent.inventory.facts import unflatten
from opsagent.knowledge import api as kb_api
from opsagent.knowledge import work_api
from opsagent.metrics import Exposition
from opsagent.reload import ReloadResult
from opsagent.sla import api as sla_api
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import inventory_repo as repo
from opsagent.web import add_routes as _console_routes

APP_KEY = web.AppKey("opsagent", App)
EXPO_KEY = web.AppKey("exposition", Exposition)
STARTED_KEY = web.AppKey("started", float)
ENGINE_KEY = web.AppKey("engine", AlertEngine)
RELOAD_KEY: web.AppKey[Callable[[], Awaitable[ReloadResult]]] = web.AppKey("reload")
MAX_WEBHOOK_BYTES = 4 * 1024 * 1024

INDEX = """opsagent {version}
  /metrics                      Prometheus exposition (collected series + agent health)
  /healthz                      liveness and store health (JSON)
  /api/v1/assets                inventory (JSON), by name: ?limit= (≤ 5000, 500)&after=NAME&q=; Link rel="next"
  /api/v1/assets/{{name}}         one asset with its facts (JSON)
  /api/v1/alerts                active alerts: opsagent's rules and Alertmanager's (JSON)
  /api/v1/incidents             open and acknowledged incidents (JSON)
  /api/v1/incidents/{{id}}        one incident: events, SLA clocks, service record
  POST /api/v1/incidents/{{id}}/ack|resolve|feedback|pending|resume|assess|signoff  (bearer token)
  /api/v1/followups             follow-up tasks (维修结果复查)
  /api/v1/reports/period?from=&to=  period statistics (JSON)
  POST /api/v1/alertmanager     Alertmanager webhook receiver: alerts open/resolve incidents  (bearer token)
  POST /-/reload                reload rules, inventory, runbooks, trap rules, service levels (bearer token)
  POST /api/v1/tickets          log a call as a ticket (service desk)  (bearer token)
  POST /login, /logout          console sessions (form or JSON; cookie + CSRF token)
  /api/v1/session               who you are (and your session's CSRF token)
  /api/v1/audit                 the audit log: ?actor=&action=&since=  (role manager or admin)
"""


async def index(request: web.Request) -> web.Response:
    return web.Response(text=INDEX.format(version=__version__))


async def metrics(request: web.Request) -> web.Response:
    """Everything, ``?scope=agent`` or ``?target=ASSET[&collector=…]`` (see opsagent.scrape)."""
    # Rendering runs in a thread so a big scrape never pauses the polling loop.
    q = request.query
    res = await in_thread(
        scrape.answer, request.app[EXPO_KEY], q, q.getall("collector", []), request.headers.get("Accept")
    )
    return web.Response(status=res.status, body=res.body, headers={"Content-Type": res.content_type})


def _store_ok(app: App) -> str:
    try:
        with app.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # health reports the failure instead of failing itself
        return f"error: {type(exc).__name__}"


async def healthz(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    store = await in_thread(_store_ok, app)
    body: dict[str, Any] = {
        "status": "ok" if store == "ok" else "degraded",
        "version": __version__,
        "uptime_seconds": round(time.time() - request.app[STARTED_KEY], 3),
        "store": store,
        "series": app.metrics.series_count(),
    }
    return web.json_response(body, status=200 if store == "ok" else 503)


ASSETS_PAGE, ASSETS_PAGE_MAX = 500, 5000


async def assets(request: web.Request) -> web.Response:
    """A page of the inventory, by name: ?limit= (default 500, ≤ 5000), ?after=NAME (the page after that
    asset), ?q= (name or address contains). When there is more, a ``Link: <…>; rel="next"`` header (RFC
    8288) names the next page."""
    app, q = request.app[APP_KEY], request.query
    try:
        limit = max(1, min(int(q.get("limit", str(ASSETS_PAGE))), ASSETS_PAGE_MAX))
    except ValueError:
        return web.json_response({"error": "limit: not a number"}, status=400)
    text = q.get("q", "").strip()[:255]
    found, more = await in_thread(repo.find_assets, app.store, text, limit, q.get("after"))
    headers = {}
    if more:
        following = request.rel_url.update_query({"after": found[-1].name, "limit": str(limit)})
        headers["Link"] = f'<{following}>; rel="next"'
    return web.json_response([a.model_dump(mode="json") for a in found], headers=headers)


async def asset(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    name = request.match_info["name"]
    found = await in_thread(repo.get_asset, app.store, name)  # one row, not the whole inventory
    if found is None:
        return web.json_response({"error": f"no asset named {name!r}"}, status=404)
    facts = await in_thread(repo.current_facts, app.store, name)
    return web.json_response(found.model_dump(mode="json") | {"facts": unflatten(facts)})


async def alertmanager_webhook(request: web.Request) -> web.Response:
    """Alertmanager's ``webhook_configs`` (``http_config.authorization`` carries the bearer token)."""
    who = auth.require_permission(request, "alert.ingest")
    payload = await read_model(request, WebhookPayload, empty_ok=False)
    result = await request.app[ENGINE_KEY].receive_alerts(payload.items(), source="alertmanager")
    counts = {k: len(v) for k, v in result.items() if isinstance(v, list)}
    await in_thread(request.app[APP_KEY].store.record, who.name, "alertmanager.receive", "", counts)
    return web.json_response(result)


async def alerts(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    body = [
        {
            "fingerprint": a.fingerprint,
            "labels": a.labels,
            "annotations": a.annotations,
            "state": a.state,
            "value": a.value,
            "activeAt": a.active_at,
            "flapping": a.flapping,
            "incident": a.incident_id,
            "source": "alertmanager" if a.rule == EXTERNAL else "rule",
        }
        for a in [a for _rule, a in engine.active_alerts()] + list(engine.external.values())
    ]
    return web.json_response(body)


async def incidents(request: web.Request) -> web.Response:
    """?status=open|acknowledged|resolved|closed|active|all (repeatable; default active), ?asset=,
    ?limit= (≤ 5000), ?archived=1 (archived ones too; hidden by default)."""
    app = request.app[APP_KEY]
    q = request.query
    wanted: set[str] = set()
    for status in q.getall("status", ["active"]):
        if status == "all":
            wanted = set()
            break
        if status not in (*ACTIVE, "resolved", "closed", "active"):
            return web.json_response({"error": f"status: {status!r} is not a status"}, status=400)
        wanted |= set(ACTIVE) if status == "active" else {status}
    try:
        limit = max(1, min(int(q.get("limit", "500")), 5000))
    except ValueError:
        return web.json_response({"error": "limit: not a number"}, status=400)
    archived = None if q.get("archived", "").lower() in ("1", "true", "yes") else False
    rows = await in_thread(
        incident_repo.list_incidents, app.store, tuple(sorted(wanted)) or None, q.get("asset"), limit, archived
    )
    return web.json_response(rows, dumps=lambda d: json.dumps(d, default=str))


async def reload_config(request: web.Request) -> web.Response:
    """``POST /-/reload``: as SIGHUP; 200 when the new content is in place, 500 with every problem
    (the previous content stays) as Prometheus answers."""
    who = auth.require_permission(request, "content.reload")  # the one authentication path of every write
    result = await request.app[RELOAD_KEY]()
    detail = {"ok": result.ok, "errors": len(result.errors)}
    await in_thread(request.app[APP_KEY].store.record, who.name, "config.reload", "", detail)
    body = {"status": "success" if result.ok else "error", "errors": result.errors}
    return web.json_response(body, status=200 if result.ok else 500)


def add_reload_route(web_app: web.Application, reload: Callable[[], Awaitable[ReloadResult]]) -> None:
    web_app[RELOAD_KEY] = reload
    web_app.router.add_post("/-/reload", reload_config)


def make_web_app(
    app: App, exposition: Exposition, engine: AlertEngine | None = None, policy: ServiceLevelPolicy | None = None
) -> web.Application:
    web_app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
    threads.configure(app.config.web.threads)  # the handlers' own pool (opsagent.httpd.threads)
    auth.install(web_app, app.config, app.store)  # require_permission() on every write; reads if web.read_auth
    auth_web.add_routes(web_app)  # POST /login, /logout; GET /api/v1/session, /api/v1/audit
    web_app[APP_KEY] = app
    web_app[EXPO_KEY] = exposition
    web_app[STARTED_KEY] = time.time()
    web_app.router.add_get("/", index)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/api/v1/assets", assets)
    web_app.router.add_get("/api/v1/assets/{name}", asset)
    web_app.router.add_get("/api/v1/incidents", incidents)
    if engine is not None:
        web_app[ENGINE_KEY] = engine
        web_app.router.add_post("/api/v1/alertmanager", alertmanager_webhook)
        web_app.router.add_get("/api/v1/alerts", alerts)
    if policy is not None:
        sla_api.add_routes(web_app, app, policy)
        desk_api.add_routes(web_app, app, policy)
        work_api.add_routes(web_app, app, policy)  # problems, on-site visits
    kb_api.add_routes(web_app, app)
    _console_routes(web_app, app, policy)  # the web console: /console pages (opsagent.web)
    timing.install(web_app)  # Server-Timing on every answer (after the console's middleware: outermost)
    return web_app
