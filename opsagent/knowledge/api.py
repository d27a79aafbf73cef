"""JSON API of the knowledge base (``opsagent serve``).

GET  /api/v1/kb/search?q=&kind=&lang=&status=&visibility=&limit=   ranked hits with escaped snippets
GET  /api/v1/kb/articles?status=&limit=                            articles, newest first
GET  /api/v1/kb/articles/{id}                                      one article (counts a view)
GET  /api/v1/kb/articles/{id}/versions                             every version, author and time
GET  /api/v1/kb/suggestions/{incident}                             articles suggested to an incident
GET  /api/v1/kb/report?days=&min=&limit=&lang=                     most-used articles; frequent problems with none
POST /api/v1/kb/articles                                           new article            (bearer token)
POST /api/v1/kb/articles/{id}                                      edit (a new version)   (bearer token)
POST /api/v1/kb/articles/{id}/publish|retire|draft|vote|link                              (bearer token)
POST /api/v1/kb/from-incident/{incident}                           draft from a resolved incident (bearer token)

Writes act as the token's identity (``require_write``); bodies are pydantic models (400 when invalid).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.errors import UsageError
from opsagent.httpd.body import error, path_id, read_model
from opsagent.httpd.threads import in_thread
from opsagent.knowledge import harvest, repo, suggest
from opsagent.knowledge.model import STATES, VISIBILITIES, Change, IncidentId, KnowledgeError, Lang, NewArticle
from opsagent.knowledge.search import MAX_LIMIT, Filters, search

KB_APP_KEY = web.AppKey("kb_app", App)


class StatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=1000)


class VoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpful: StrictBool


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incident: IncidentId


class HarvestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: Lang = "zh"


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))


def _reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """A store call in a thread; the knowledge base's refusals become 404/409/400."""
    try:
        return await in_thread(fn, *args)
    except KnowledgeError as exc:
        raise error(web.HTTPNotFound if str(exc).startswith("no ") else web.HTTPConflict, str(exc)) from None
    except UsageError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise error(web.HTTPBadRequest, f"{name}: must be one of {', '.join(allowed)}")
    return value


def _limit(request: web.Request, default: int, top: int, name: str = "limit") -> int:
    text = request.query.get(name, str(default))
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise error(web.HTTPBadRequest, f"{name}: not a number")
    return max(1, min(int(text), top))


async def search_route(request: web.Request) -> web.Response:
    kind = _choice(request, "kind", ("all", "article", "incident")) or "all"
    statuses = tuple(request.query.getall("status", [])) or ("published",)
    if any(s not in STATES for s in statuses):
        raise error(web.HTTPBadRequest, f"status: must be one of {', '.join(STATES)}")
    filters = Filters(
        kinds=("article", "incident") if kind == "all" else (kind,),
        statuses=statuses,
        lang=_choice(request, "lang", ("zh", "en")),
        visibility=_choice(request, "visibility", VISIBILITIES),
    )
    hits = await _run(search, request.app[KB_APP_KEY].store, request.query.get("q", ""), filters,
                      _limit(request, 20, MAX_LIMIT))  # fmt: skip
    return _reply([h.as_dict() for h in hits])


async def list_route(request: web.Request) -> web.Response:
    status = _choice(request, "status", STATES)
    rows = await _run(repo.list_articles, request.app[KB_APP_KEY].store, status, _limit(request, 100, 5000))
    return _reply(rows)


async def get_route(request: web.Request) -> web.Response:
    store, article_id = request.app[KB_APP_KEY].store, path_id(request, "article")
    found = await _run(repo.get, store, article_id)
    if found is None:
        raise error(web.HTTPNotFound, f"no article #{article_id}")
    await _run(repo.count_view, store, article_id)
    return _reply(found)


async def versions_route(request: web.Request) -> web.Response:
    article_id = path_id(request, "article")
    rows = await _run(repo.versions, request.app[KB_APP_KEY].store, article_id)
    if not rows:
        raise error(web.HTTPNotFound, f"no article #{article_id}")
    return _reply(rows)


async def suggestions_route(request: web.Request) -> web.Response:
    incident_id = path_id(request, "incident", "incident")
    lang = _choice(request, "lang", ("zh", "en")) or "zh"
    return _reply(await _run(suggest.for_incident, request.app[KB_APP_KEY].store, incident_id, lang))


async def report_route(request: web.Request) -> web.Response:
    from datetime import timedelta

    from opsagent.knowledge import usage
    from opsagent.store.engine import now

    days, least = _limit(request, 90, 3660, "days"), _limit(request, 3, 10_000, "min")
    lang = _choice(request, "lang", ("zh", "en")) or "zh"
    since = now() - timedelta(days=days)
    data = await _run(usage.report, request.app[KB_APP_KEY].store, since, max(2, least), _limit(request, 20, 1000),
                      lang)  # fmt: skip
    return _reply(data)


async def create_route(request: web.Request) -> web.Response:
    who = auth.require_write(request)
    body = await read_model(request, NewArticle, empty_ok=False)
    meta = body.model_copy()
    article_id = await _run(repo.create, request.app[KB_APP_KEY].store, meta, body.translations, who.name)
    return _reply(await _run(repo.get, request.app[KB_APP_KEY].store, article_id), status=201)


async def edit_route(request: web.Request) -> web.Response:
    who = auth.require_write(request)
    article_id = path_id(request, "article")
    change = await read_model(request, Change, empty_ok=False)
    version = await _run(repo.edit, request.app[KB_APP_KEY].store, article_id, change, who.name)
    return _reply({"id": article_id, "version": version, "changed": version is not None})


async def action_route(request: web.Request) -> web.Response:
    who = auth.require_write(request)
    store, article_id, action = request.app[KB_APP_KEY].store, path_id(request, "article"), request.match_info["action"]
    if action == "vote":
        vote = await read_model(request, VoteBody, empty_ok=False)
        return _reply(await _run(repo.vote, store, article_id, vote.helpful, who.name))
    if action == "link":
        link = await read_model(request, LinkBody, empty_ok=False)
        suggested = await _run(suggest.link, store, article_id, link.incident, who.name)
        return _reply({"id": article_id, "incident": link.incident, "suggested": suggested})
    body = await read_model(request, StatusBody)
    status = {"publish": "published", "retire": "retired", "draft": "draft"}[action]
    version = await _run(repo.set_status, store, article_id, status, who.name, body.note)
    return _reply({"id": article_id, "status": status, "version": version})


async def harvest_route(request: web.Request) -> web.Response:
    who = auth.require_write(request)
    incident_id = path_id(request, "incident", "incident")
    body = await read_model(request, HarvestBody)
    store = request.app[KB_APP_KEY].store
    article_id = await _run(harvest.from_incident, store, incident_id, who.name, body.lang)
    return _reply(await _run(repo.get, store, article_id), status=201)


def add_routes(web_app: web.Application, app: App) -> None:
    auth.install(web_app, app.config)
    web_app[KB_APP_KEY] = app
    add = web_app.router
    add.add_get("/api/v1/kb/search", search_route)
    add.add_get("/api/v1/kb/articles", list_route)
    add.add_post("/api/v1/kb/articles", create_route)
    add.add_get("/api/v1/kb/articles/{id}", get_route)
    add.add_post("/api/v1/kb/articles/{id}", edit_route)
    add.add_get("/api/v1/kb/articles/{id}/versions", versions_route)
    add.add_post("/api/v1/kb/articles/{id}/{action:(publish|retire|draft|vote|link)}", action_route)
    add.add_get("/api/v1/kb/suggestions/{incident}", suggestions_route)
    add.add_get("/api/v1/kb/report", report_route)
    add.add_post("/api/v1/kb/from-incident/{incident}", harvest_route)
