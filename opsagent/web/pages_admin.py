"""The console's admin pages: users (add, role, disable/enable, reset password — argon2 by the auth
code; the last enabled admin is kept), the role table (read-only), silences and maintenance windows
(add, expire), what ``opsagent check`` says of the loaded content, and the audit log with filters.

Every page and form asks ``user.manage`` (admins) server-side, except the audit log (``audit.read``, as
the JSON API's ``/api/v1/audit``). The auth middleware has checked a form's CSRF token and Origin
before a POST gets here; every write goes through the same service the CLI uses and is audited with
the signed-in user as the actor.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from opsagent.alerts import silences as sil
from opsagent.auth import accounts
from opsagent.auth import http as auth
from opsagent.auth.audit import parse_since
from opsagent.auth.passwords import check_new_password
from opsagent.auth.roles import PERMISSIONS, ROLES
from opsagent.auth.web import HASHER_KEY
from opsagent.httpd.threads import in_thread
from opsagent.i18n import LANGUAGES
from opsagent.store import user_repo
from opsagent.units import parse_duration
from opsagent.web.context import CONSOLE_KEY, Viewer, context, refuse, viewer
from opsagent.web.pages import _json, _wants_json
from opsagent.web.render import error_page, page

PREFIX = "/console/admin"
AUDIT_LIMIT = 200
MAX_SILENCE = 366 * 86400.0
MAX_MATCHERS = 20


def _field(form: Any, name: str, limit: int = 255) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def _bounded(form: Any, name: str, limit: int) -> str:
    """A text field that must fit ``limit`` (refused when longer: a matcher cut short would match else)."""
    value = _field(form, name, limit + 1)
    if len(value) > limit:
        raise ValueError(f"{name}: at most {limit} characters")
    return value


def _failed(request: web.Request, who: Viewer, message: str, back: str, status: type[web.HTTPException]) -> Exception:
    ctx = context(request, who, back=back)
    ctx["message"] = ctx["t"](message)  # the known refusals in the reader's language, others as they are
    return error_page(status, request.app[CONSOLE_KEY].env, "failed.html", ctx)


async def _admin(request: web.Request) -> tuple[Viewer, str]:
    """The signed-in admin and, for a form, the name every write records (403 page otherwise)."""
    who = await viewer(request)
    refuse(request, who, "user.manage")
    if request.method == "POST":
        return who, auth.require_permission(request, "user.manage").name
    return who, who.identity.name


# -- users -----------------------------------------------------------------------------------------
def _user_row(u: dict[str, Any]) -> dict[str, Any]:
    keys = ("username", "display_name", "email", "role", "language", "timezone", "disabled", "source",
            "created_at", "last_login_at")  # fmt: skip
    return {k: u.get(k) for k in keys}


async def users(request: web.Request) -> web.Response:
    who, _ = await _admin(request)
    store = request.app[CONSOLE_KEY].app.store
    rows = [_user_row(u) for u in await in_thread(user_repo.list_users, store)]
    if _wants_json(request):
        return _json(rows)
    ctx = context(request, who, users=rows, roles=ROLES, languages=LANGUAGES)
    return page(request.app[CONSOLE_KEY].env, "admin_users.html", ctx)


def _new_user(form: Any) -> tuple[str, dict[str, Any], str]:
    # bounded well above each field's own limit, so a value too long is refused, never cut short
    name = accounts.check_username(_field(form, "username", 1000))
    fields = {"role": _field(form, "role", 1000), "display_name": _field(form, "display_name", 1000),
              "email": _field(form, "email", 1000), "language": _field(form, "language", 1000) or "zh",
              "timezone": _field(form, "timezone", 1000)}  # fmt: skip
    password = form.get("password", "")
    return name, accounts.check_fields(fields), check_new_password(password if isinstance(password, str) else "")


async def add_user(request: web.Request) -> web.StreamResponse:
    who, actor = await _admin(request)
    form = await request.post()
    store = request.app[CONSOLE_KEY].app.store
    try:
        name, fields, password = _new_user(form)
        if await in_thread(user_repo.get_user, store, name) is not None:
            raise ValueError(f"user {name!r} exists already")
    except ValueError as exc:
        raise _failed(request, who, str(exc), f"{PREFIX}/users", web.HTTPBadRequest) from None
    hashed = await in_thread(request.app[HASHER_KEY].hash, password)
    await in_thread(user_repo.add_user, store, name, fields, hashed, actor)
    raise web.HTTPSeeOther(f"{PREFIX}/users")


def _change(form: Any, change: str, hash_password: Any) -> tuple[dict[str, Any], str]:
    """The values a user form changes and the audit action (ValueError on a bad value)."""
    if change == "role":
        role = _field(form, "role", 1000)
        return accounts.check_fields({"role": role}), "user.role"
    if change in ("disable", "enable"):
        return {"disabled": change == "disable"}, f"user.{change}"
    password = form.get("password", "")
    return {"password_hash": hash_password(check_new_password(password if isinstance(password, str) else ""))}, (
        "user.passwd"
    )


async def change_user(request: web.Request) -> web.StreamResponse:
    who, actor = await _admin(request)
    name, change = request.match_info["name"], request.match_info["change"]
    form = await request.post()
    store = request.app[CONSOLE_KEY].app.store
    back = f"{PREFIX}/users"
    found = await in_thread(user_repo.get_user, store, name)
    if found is None:
        raise _failed(request, who, f"no user {name[:64]!r}", back, web.HTTPNotFound)
    if change == "password" and found["source"] != "local":
        raise _failed(request, who, f"{name!r} signs in through the directory (LDAP)", back, web.HTTPConflict)
    try:
        values, action = await in_thread(_change, form, change, request.app[HASHER_KEY].hash)
        guard = accounts.admin_guard(found)
        await in_thread(user_repo.update_user, store, name, values, actor, action, guard)
    except accounts.LastAdminError as exc:
        raise _failed(request, who, str(exc), back, web.HTTPConflict) from None
    except ValueError as exc:
        raise _failed(request, who, str(exc), back, web.HTTPBadRequest) from None
    raise web.HTTPSeeOther(back)


# -- roles -----------------------------------------------------------------------------------------
async def roles(request: web.Request) -> web.Response:
    who, _ = await _admin(request)
    permissions = sorted(set().union(*(PERMISSIONS[r] for r in ROLES)))
    table = [(p, [p in PERMISSIONS[r] for r in ROLES]) for p in permissions]
    if _wants_json(request):
        return _json({r: sorted(PERMISSIONS[r]) for r in ROLES})
    return page(request.app[CONSOLE_KEY].env, "admin_roles.html", context(request, who, roles=ROLES, table=table))


# -- silences and maintenance windows --------------------------------------------------------------
async def silences(request: web.Request) -> web.Response:
    who, _ = await _admin(request)
    rows = await in_thread(sil.list_silences, request.app[CONSOLE_KEY].app.store, True)
    rows.sort(key=lambda r: (r["state"] == "expired", -r["id"]))
    if _wants_json(request):
        return _json(rows)
    ctx = context(request, who, silences=rows[:500], kinds=sil.KINDS)
    return page(request.app[CONSOLE_KEY].env, "admin_silences.html", ctx)


def _starts(text: str, zone: Any) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"start: {text[:40]!r} is not a time (2026-12-01T22:00)") from None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def _silence(form: Any, zone: Any) -> tuple[list[str], datetime, datetime, str, str]:
    kind = _field(form, "kind", 16) or "silence"
    matchers = [m.strip() for m in _bounded(form, "matchers", 4000).splitlines() if m.strip()]
    if len(matchers) > MAX_MATCHERS:
        raise ValueError(f"matchers: at most {MAX_MATCHERS}")
    seconds = parse_duration(_field(form, "duration", 32) or "2h")
    if not 0 < seconds <= MAX_SILENCE:
        raise ValueError("duration: between 1s and 366d")
    starts = _starts(_field(form, "start", 40), zone)
    return matchers, starts, starts + timedelta(seconds=seconds), _bounded(form, "comment", 2000), kind


async def add_silence(request: web.Request) -> web.StreamResponse:
    who, actor = await _admin(request)
    form = await request.post()
    back = f"{PREFIX}/silences"
    try:
        matchers, starts, ends, comment, kind = _silence(form, who.zone)
        store = request.app[CONSOLE_KEY].app.store
        await in_thread(sil.add_silence, store, matchers, starts, ends, actor, comment, kind)
    except (ValueError, OverflowError, sil.SilenceError) as exc:
        raise _failed(request, who, str(exc), back, web.HTTPBadRequest) from None
    raise web.HTTPSeeOther(back)


async def expire_silence(request: web.Request) -> web.StreamResponse:
    who, actor = await _admin(request)
    back = f"{PREFIX}/silences"
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 9:
        raise web.HTTPNotFound()
    try:
        await in_thread(sil.expire_silence, request.app[CONSOLE_KEY].app.store, int(text), actor)
    except sil.SilenceError as exc:
        raise _failed(request, who, str(exc), back, web.HTTPConflict) from None
    raise web.HTTPSeeOther(back)


# -- content validation ----------------------------------------------------------------------------
def _check(roots: list[Any]) -> dict[str, Any]:
    """What ``opsagent check`` (no paths) reports for the content the agent loads."""
    from datetime import date

    from opsagent.collectors import options_models
    from opsagent.content import check_paths, default_check_paths
    from opsagent.runbooks.notify import known_receivers
    from opsagent.sla.policy import calendar_warnings

    paths = default_check_paths(roots)
    count, issues = check_paths(paths, options_models(), known_receivers(roots))
    warnings = [] if issues else calendar_warnings(roots, date.today())
    return {"roots": [str(r) for r in roots], "files": count, "invalid": len({i.path for i in issues}),
            "issues": [str(i) for i in issues], "warnings": [str(w) for w in warnings]}  # fmt: skip


async def content(request: web.Request) -> web.Response:
    who, _ = await _admin(request)
    result = await in_thread(_check, list(request.app[CONSOLE_KEY].app.config.roots))
    if _wants_json(request):
        return _json(result)
    return page(request.app[CONSOLE_KEY].env, "admin_content.html", context(request, who, r=result))


# -- audit log -------------------------------------------------------------------------------------
def _audit_filter(query: Any) -> dict[str, str]:
    return {k: str(query.get(k, "")).strip()[:255] for k in ("actor", "action", "since")}


async def audit(request: web.Request) -> web.Response:
    who = await viewer(request)
    refuse(request, who, "audit.read")
    wanted = _audit_filter(request.query)
    try:
        since = parse_since(wanted["since"]) if wanted["since"] else None
    except (ValueError, OverflowError) as exc:
        raise _failed(request, who, str(exc), f"{PREFIX}/audit", web.HTTPBadRequest) from None
    store = request.app[CONSOLE_KEY].app.store
    rows = await in_thread(
        store.audit_log, AUDIT_LIMIT, actor=wanted["actor"] or None, action=wanted["action"] or None, since=since
    )
    if _wants_json(request):
        return _json(rows)
    for row in rows:
        row["detail"] = json.dumps(row.get("detail") or {}, ensure_ascii=False, default=str)[:2000]
    ctx = context(request, who, rows=rows, f=wanted, here=urlencode({k: v for k, v in wanted.items() if v}),
                  limit=AUDIT_LIMIT)  # fmt: skip
    return page(request.app[CONSOLE_KEY].env, "admin_audit.html", ctx)


async def index(request: web.Request) -> web.StreamResponse:
    who = await viewer(request)
    if not who.can("user.manage") and who.can("audit.read"):
        raise web.HTTPSeeOther(f"{PREFIX}/audit")
    refuse(request, who, "user.manage")
    raise web.HTTPSeeOther(f"{PREFIX}/users")


def add_routes(web_app: web.Application) -> None:
    r = web_app.router
    r.add_get(PREFIX, index)
    r.add_get(f"{PREFIX}/users", users)
    r.add_post(f"{PREFIX}/users", add_user)
    r.add_post(PREFIX + "/users/{name}/{change:(role|disable|enable|password)}", change_user)
    r.add_get(f"{PREFIX}/roles", roles)
    r.add_get(f"{PREFIX}/silences", silences)
    r.add_post(f"{PREFIX}/silences", add_silence)
    r.add_post(PREFIX + "/silences/{id}/expire", expire_silence)
    r.add_get(f"{PREFIX}/content", content)
    r.add_get(f"{PREFIX}/audit", audit)
