"""Who views a console page, in which language and zone, and the context every template gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from aiohttp import web

from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.auth.identity import ANONYMOUS, Identity
from opsagent.auth.sessions import csrf_token
from opsagent.i18n import LANGUAGES, show_time, zone_label
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.web.cache import Kept
from opsagent.web.render import error_page
from opsagent.web.words import translator

LANG_COOKIE = "opsagent_lang"
LOGIN = "/console/login"
CHOICES_SECONDS = 60.0  # the queue's select options may be this old
REFRESH_COOKIE = "opsagent_refresh"  # "on": the overview, queue and ticket pages reload every minute


@dataclass
class Console:
    """What the console's routes share."""

    app: App
    policy: ServiceLevelPolicy | None
    env: jinja2.Environment
    choices: Kept[dict[str, list[str]]] = field(default_factory=lambda: Kept(CHOICES_SECONDS))  # queue selects


CONSOLE_KEY = web.AppKey("console", Console)


@dataclass(frozen=True)
class Viewer:
    identity: Identity
    display: str
    lang: str
    zone: tzinfo
    csrf: str

    def can(self, permission: str) -> bool:
        return self.identity.can(permission)


def _accept_language(header: str) -> str | None:
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return None


def _lang(request: web.Request, user: dict[str, Any] | None, default: str) -> str:
    for choice in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if choice in LANGUAGES:
            return str(choice)
    if user is not None and user.get("language") in LANGUAGES:
        return str(user["language"])
    return _accept_language(request.headers.get("Accept-Language", "")) or default


def _zone(user: dict[str, Any] | None, default: tzinfo) -> tzinfo:
    name = (user or {}).get("timezone") or ""
    try:
        return ZoneInfo(name) if name else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


async def viewer(request: web.Request) -> Viewer:
    """The signed-in caller; anonymous callers are sent to the sign-in page (303)."""
    found = auth.caller(request)
    if found.identity is ANONYMOUS or found.refused:
        raise web.HTTPSeeOther(f"{LOGIN}?next={request.path_qs}" if request.method == "GET" else LOGIN)
    console = request.app[CONSOLE_KEY]
    user = found.user  # a session's or user token's row, read with it (a config token has none)
    config = console.app.config
    display = str((user or {}).get("display_name") or found.identity.name)
    csrf = csrf_token(found.session) if found.session else ""
    return Viewer(found.identity, display, _lang(request, user, config.lang), _zone(user, config.zone), csrf)


def auto_refresh(request: web.Request) -> bool:
    """Pages reload themselves only when the user asked for it (WCAG 2.2.1: a page must not change
    under its reader, e.g. while a note is being typed): ``?refresh=on|off``, remembered in a cookie."""
    choice = request.query.get("refresh") or request.cookies.get(REFRESH_COOKIE)
    return choice == "on"


def _refresh_toggle(request: web.Request, on: bool) -> str:
    kept = [(k, v) for k, v in request.query.items() if k != "refresh"]
    return f"{request.path}?{urlencode([*kept, ('refresh', 'off' if on else 'on')])}"


def base(request: web.Request, viewer: Viewer | None, lang: str, zone: tzinfo) -> dict[str, Any]:
    t = translator(lang)
    refresh = auto_refresh(request)

    def when(value: datetime | None) -> str:
        return show_time(value, zone)

    return {
        "t": t,
        "lang": lang,
        "when": when,
        "zone": zone_label(datetime.now(zone)),
        "viewer": viewer,
        "path": request.path,
        "csrf": viewer.csrf if viewer else "",
        "auto_refresh": refresh,
        "refresh_toggle": _refresh_toggle(request, refresh),
    }


def context(request: web.Request, viewer: Viewer, **data: Any) -> dict[str, Any]:
    return base(request, viewer, viewer.lang, viewer.zone) | data


def refuse(request: web.Request, viewer: Viewer, permission: str) -> None:
    """A 403 page unless the viewer's role grants ``permission`` (checked on every route, server-side)."""
    if not viewer.can(permission):
        env = request.app[CONSOLE_KEY].env
        raise error_page(web.HTTPForbidden, env, "refused.html", context(request, viewer))
