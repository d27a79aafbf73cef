"""The console's knowledge-base pages: browse by category, search with highlighted snippets, an article
(its Markdown rendered safely, a helpful / not-helpful vote), and for engineers the create and edit forms
(every save a new version, authored by the signed-in user), state changes (draft / published / retired)
and "used on this ticket". Requesters read only the published articles visible to requesters.

``/console/kb`` (``?q=``, ``?category=``, ``?state=``) · ``/console/kb/ID`` (``?tr=zh|en`` the translation,
``?incident=N`` opened from ticket N's notification or page: the suggestion counts as used) ·
``/console/kb/new`` · ``/console/kb/ID/edit`` · POST ``…/ID/state|vote|link``. ``?format=json`` on the
list and the article pages; ``/api/v1/kb/…`` is the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from opsagent.errors import UsageError
from opsagent.httpd.threads import in_thread
from opsagent.knowledge import browse, repo, suggest
from opsagent.knowledge.browse import Audience
from opsagent.knowledge.model import LANGS, STATES, VISIBILITIES, Change, KnowledgeError, Meta, Translation
from opsagent.knowledge.search import MAX_QUERY, Filters, search
from opsagent.web.context import CONSOLE_KEY, Viewer, context, refuse, viewer
from opsagent.web.kb_markdown import render
from opsagent.web.pages import _json, _wants_json
from opsagent.web.render import error_page, page

BASE = "/console/kb"
SEARCH_LIMIT = 50
MAX_FIELD = 1000


def _audience(request: web.Request, who: Viewer, states: tuple[str, ...] = ("published",)) -> Audience:
    if who.can("incident.read"):
        return Audience(True, states)
    refuse(request, who, "request.own")  # requesters read what is published for them; others nothing
    return Audience(False)


def _can_edit(who: Viewer) -> bool:
    return who.can("incident.work")


def _article_id(request: web.Request) -> int:
    value = int(request.match_info["id"])  # the route allows digits only
    if not 0 < value < 2**31:
        raise web.HTTPNotFound()
    return value


def _field(form: Any, name: str, limit: int = MAX_FIELD) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _tags(text: str) -> list[str]:
    parts = [p.strip() for p in text.replace("，", ",").split(",")]
    return [p for p in parts if p]


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)


async def _call(request: web.Request, who: Viewer, back: str, fn: Callable[..., Any], *args: Any) -> Any:
    """A knowledge-base write in a thread; a refusal (invalid field, a state that does not allow it)
    becomes the console's error page, never a traceback."""
    try:
        return await in_thread(fn, *args)
    except (KnowledgeError, ValidationError, UsageError, ValueError) as exc:
        env = request.app[CONSOLE_KEY].env
        raise error_page(web.HTTPConflict, env, "failed.html",
                         context(request, who, message=_problem(exc), back=back)) from None  # fmt: skip


def _state_filter(request: web.Request, internal: bool) -> tuple[str, tuple[str, ...]]:
    state = request.query.get("state", "published" if not internal else "all")
    if state not in STATES:
        return "all", STATES
    return state, (state,)


async def kb_home(request: web.Request) -> web.Response:
    who = await viewer(request)
    probe = _audience(request, who)
    state, states = _state_filter(request, probe.internal)
    audience = Audience(probe.internal, states)
    store = request.app[CONSOLE_KEY].app.store
    q = request.query.get("q", "").strip()[:MAX_QUERY]
    category = request.query.get("category")
    category = category.strip()[:255] if isinstance(category, str) else None
    hits: list[dict[str, Any]] = []
    message = ""
    if q:
        filters = Filters(kinds=("article", "incident"), statuses=states) if audience.internal else \
            Filters(kinds=("article",), visibility="requesters")  # fmt: skip
        try:
            found = await in_thread(search, store, q, filters, SEARCH_LIMIT)
            hits = [h.as_dict() for h in found]
        except UsageError as exc:
            message = str(exc)
    rows = [] if q else await in_thread(browse.articles, store, audience, category, who.lang)
    cats = await in_thread(browse.categories, store, audience)
    if _wants_json(request):
        return _json({"q": q, "category": category, "state": state, "hits": hits, "articles": rows,
                      "categories": cats})  # fmt: skip
    ctx = context(request, who, q=q, category=category, state=state, states=STATES, hits=hits, rows=rows,
                  categories=cats, message=message, can_edit=_can_edit(who), internal=audience.internal)  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "kb_index.html", ctx)


def _translation(article: dict[str, Any], wanted: str | None, lang: str) -> str:
    translations = article["translations"]
    for choice in (wanted, lang):
        if choice in translations:
            return str(choice)
    return next(iter(translations), lang)


def _incident_param(request: web.Request) -> int | None:
    text = request.query.get("incident", "")
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 10 else None


async def _readable(request: web.Request, who: Viewer, article_id: int) -> tuple[dict[str, Any], Audience]:
    """The article, if this viewer may read it: a requester gets 403 for an internal or unpublished one."""
    console = request.app[CONSOLE_KEY]
    audience = _audience(request, who)
    found = await in_thread(repo.get, console.app.store, article_id)
    if found is None:
        raise error_page(web.HTTPNotFound, console.env, "missing.html", context(request, who))
    if not audience.may_read(found):
        raise error_page(web.HTTPForbidden, console.env, "refused.html", context(request, who))
    return found, audience


async def article_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    article_id = _article_id(request)
    found, audience = await _readable(request, who, article_id)
    store = request.app[CONSOLE_KEY].app.store
    await in_thread(repo.count_view, store, article_id)
    incident = _incident_param(request) if audience.internal else None
    if incident is not None and _can_edit(who):  # opened from the ticket's notification or page
        await in_thread(suggest.opened, store, article_id, incident, who.identity.name)
    if not audience.internal:
        found = {k: v for k, v in found.items() if k not in ("incidents", "source_incident", "runbooks")}
    lang = _translation(found, request.query.get("tr"), who.lang)
    if _wants_json(request):
        return _json(found)
    versions = await in_thread(repo.versions, store, article_id) if audience.internal else []
    mine = await in_thread(repo.vote_of, store, article_id, who.identity.name)
    text = found["translations"].get(lang, {"title": "", "body": ""})
    ctx = context(request, who, a=found, tr=lang, text=text, body=render(text["body"]), incident=incident,
                  versions=[v for v in versions if v["lang"] == lang], internal=audience.internal,
                  can_edit=_can_edit(who), states=STATES, voted=request.query.get("voted") == "1",
                  my_vote=mine)  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "kb_article.html", ctx)


async def vote(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    article_id = _article_id(request)
    await _readable(request, who, article_id)
    form = await request.post()
    back = f"{BASE}/{article_id}"
    helpful = _field(form, "helpful", 3) == "yes"
    await _call(request, who, back, repo.vote, request.app[CONSOLE_KEY].app.store, article_id, helpful,
                who.identity.name)  # fmt: skip
    raise web.HTTPSeeOther(f"{back}?voted=1")


def _form_values(form: Any) -> dict[str, Any]:
    lang = _field(form, "lang", 2)
    return {
        "lang": lang if lang in LANGS else "zh",
        "title": _field(form, "title", 400),
        "body": _field(form, "body", 250_000).replace("\r\n", "\n"),
        "category": _field(form, "category", 300),
        "tags": _tags(_field(form, "tags", 8000)),
        "visibility": _field(form, "visibility", 20),
        "note": _field(form, "note"),
    }


async def new_form(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    values = {"lang": who.lang, "title": "", "body": "", "category": request.query.get("category", "")[:255],
              "tags": [], "visibility": "internal", "note": ""}  # fmt: skip
    ctx = context(request, who, a=None, v=values, langs=LANGS, visibilities=VISIBILITIES, action=f"{BASE}/new")
    return page(request.app[CONSOLE_KEY].env, "kb_form.html", ctx)


def _create(store: Any, values: dict[str, Any], actor: str) -> int:
    meta = Meta(visibility=values["visibility"], category=values["category"], tags=values["tags"])
    text = Translation(lang=values["lang"], title=values["title"], body=values["body"])
    return repo.create(store, meta, [text], actor, values["note"])


async def create(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    values = _form_values(await request.post())
    article_id = await _call(request, who, f"{BASE}/new", _create, request.app[CONSOLE_KEY].app.store, values,
                             who.identity.name)  # fmt: skip
    raise web.HTTPSeeOther(f"{BASE}/{article_id}")


async def edit_form(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    article_id = _article_id(request)
    found, _ = await _readable(request, who, article_id)
    lang = request.query.get("tr") if request.query.get("tr") in LANGS else _translation(found, None, who.lang)
    text = found["translations"].get(lang, {"title": "", "body": ""})
    values = {"lang": lang, "title": text["title"], "body": text["body"], "category": found["category"],
              "tags": found["tags"], "visibility": found["visibility"], "note": ""}  # fmt: skip
    ctx = context(request, who, a=found, v=values, langs=LANGS, visibilities=VISIBILITIES,
                  action=f"{BASE}/{article_id}/edit")  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "kb_form.html", ctx)


def _edit(store: Any, article_id: int, values: dict[str, Any], actor: str) -> int | None:
    change = Change(**values)
    return repo.edit(store, article_id, change, actor)


async def save(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    article_id = _article_id(request)
    await _readable(request, who, article_id)
    values = _form_values(await request.post())
    back = f"{BASE}/{article_id}/edit?tr={values['lang']}"
    await _call(request, who, back, _edit, request.app[CONSOLE_KEY].app.store, article_id, values, who.identity.name)
    raise web.HTTPSeeOther(f"{BASE}/{article_id}?tr={values['lang']}")


async def change_state(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    refuse(request, who, "incident.work")
    article_id = _article_id(request)
    form = await request.post()
    state = _field(form, "state", 20)
    back = f"{BASE}/{article_id}"
    if state not in STATES:
        raise web.HTTPBadRequest(text="state: must be one of draft, published, retired")
    await _call(request, who, back, repo.set_status, request.app[CONSOLE_KEY].app.store, article_id, state,
                who.identity.name, _field(form, "note"))  # fmt: skip
    raise web.HTTPSeeOther(back)


async def link(request: web.Request) -> web.StreamResponse:
    """The "used on this ticket" form: links the article to the incident and counts its suggestion used."""
    who = await viewer(request)
    refuse(request, who, "incident.work")
    article_id = _article_id(request)
    form = await request.post()
    text = _field(form, "incident", 10)
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 2**31):
        raise web.HTTPBadRequest(text="incident: not a ticket number")
    await _call(request, who, f"{BASE}/{article_id}", suggest.link, request.app[CONSOLE_KEY].app.store, article_id,
                int(text), who.identity.name)  # fmt: skip
    raise web.HTTPSeeOther(f"/console/incidents/{int(text)}")


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """Mount the knowledge-base pages under ``prefix`` (``/console``)."""
    kb = f"{prefix}/kb"
    one = kb + r"/{id:\d{1,10}}"
    router.add_get(kb, kb_home)
    router.add_get(f"{kb}/new", new_form)
    router.add_post(f"{kb}/new", create)
    router.add_get(one, article_page)
    router.add_get(f"{one}/edit", edit_form)
    router.add_post(f"{one}/edit", save)
    router.add_post(f"{one}/state", change_state)
    router.add_post(f"{one}/vote", vote)
    router.add_post(f"{one}/link", link)
