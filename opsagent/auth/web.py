"""Console sign-in over HTTP: ``POST /login`` (a form or JSON ``{"username", "password"}``) opens a
session (an HttpOnly, SameSite=Lax cookie, Secure under TLS), ``POST /logout`` ends it,
``GET /api/v1/session`` says who the caller is (and the session's CSRF token), ``GET /api/v1/audit``
reads the audit log (``audit.read``).

Failed logins are audited (``login.failed``, with the reason and the client address) and throttled per
username and per client address (429 with ``Retry-After``); every refusal says the same thing, so a
caller cannot tell an unknown user from a wrong password or a disabled account.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opsagent.auth import accounts, sessions
from opsagent.auth.audit import parse_since
from opsagent.auth.http import (
    STORE_KEY,
    THROTTLE_KEY,
    _config,
    _error,
    _same_origin,
    authenticate,
    caller,
    session_cookie,
)
from opsagent.auth.identity import ANONYMOUS
from opsagent.auth.passwords import MAX_LENGTH, Hasher
from opsagent.httpd.appkeys import CONFIG_KEY
from opsagent.httpd.body import describe, read_model
from opsagent.httpd.threads import in_thread
from opsagent.store.engine import Store

HASHER_KEY = web.AppKey("password_hasher", Hasher)
SLOTS_KEY = web.AppKey("login_slots", asyncio.Semaphore)  # argon2 costs 64 MiB a check: a few at once
LOGIN_SLOTS = 2
FAILED = "wrong username or password"
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    next: str | None = Field(default=None, max_length=2000, description="a form login's page to go to")


def _store(request: web.Request) -> Store:
    store = request.app.get(STORE_KEY)
    if store is None:
        raise _error(web.HTTPServiceUnavailable, "sign-in is not available here")
    return store


async def _body(request: web.Request) -> LoginBody:
    if request.content_type not in FORMS:
        return await read_model(request, LoginBody, empty_ok=False)
    try:
        form = await request.post()
    except ValueError:
        raise _error(web.HTTPBadRequest, "the form cannot be read") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str) and k != sessions.CSRF_FIELD}
    try:
        return LoginBody.model_validate(fields)
    except ValidationError as exc:
        raise _error(web.HTTPBadRequest, describe(exc)) from None


def _local_path(target: str | None) -> str:
    """Only a path of this server (never ``//other.site`` or a scheme) is a place to go after a form login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _audit(store: Store, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    store.record(actor, action, target, detail)


async def _throttled(store: Store, wait: float, username: str) -> None:
    """429 with Retry-After while this username or address must wait (audited as a failed login)."""
    if wait <= 0:
        return
    await in_thread(_audit, store, "anonymous", "login.failed", username, {"reason": "throttled"})
    raise web.HTTPTooManyRequests(
        text=json.dumps({"error": f"too many failed logins: try again in {math.ceil(wait)} s"}),
        content_type="application/json", headers={"Retry-After": str(math.ceil(wait))},
    )  # fmt: skip


async def login(request: web.Request) -> web.StreamResponse:
    config, store = _config(request), _store(request)
    if not _same_origin(request):
        raise _error(web.HTTPForbidden, "cross-site request refused (Origin)")
    body = await _body(request)
    address = request.remote or "-"
    throttle = request.app[THROTTLE_KEY]
    await _throttled(store, throttle.wait(body.username, address), body.username)
    async with request.app[SLOTS_KEY]:
        # again: attempts queued behind the slots while earlier ones failed wait as well
        await _throttled(store, throttle.wait(body.username, address), body.username)
        result = await asyncio.to_thread(  # long (argon2, a directory's bind): not on the request threads
            accounts.login, store, config.auth, body.username, body.password, request.app[HASHER_KEY]
        )
    if result.user is None:
        throttle.failed(body.username, address)
        detail = {"reason": result.reason, "method": result.method}
        await in_thread(_audit, store, "anonymous", "login.failed", body.username, detail)
        if request.content_type in FORMS:  # the console's form: back to it, saying so
            raise web.HTTPSeeOther("/console/login?" + urlencode({"failed": 1, "next": _local_path(body.next)}))
        raise _error(web.HTTPUnauthorized, FAILED)
    throttle.succeeded(body.username)
    user = result.user
    token = await in_thread(sessions.open_session, store, config.auth, user["id"], address)
    await in_thread(_audit, store, user["username"], "login", user["username"], {"method": result.method})
    if request.content_type in FORMS:
        response: web.StreamResponse = web.HTTPSeeOther(_local_path(body.next))
    else:
        response = web.json_response(
            {k: user[k] for k in ("username", "display_name", "email", "role", "language", "timezone")}
            | {"csrf_token": sessions.csrf_token(token)}
        )
    response.set_cookie(
        sessions.cookie_name(config.web.tls), token, httponly=True, samesite="Lax", secure=config.web.tls, path="/"
    )
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    found = caller(request)  # the middleware already checked the CSRF token of a cookie write
    cookie = session_cookie(request)
    if found.session is None or cookie is None:
        raise _error(web.HTTPUnauthorized, "not signed in")
    await in_thread(sessions.close_session, store, cookie)
    name = found.identity.name
    await in_thread(_audit, store, name, "logout", name, {})
    response: web.StreamResponse = web.json_response({"signed_out": name})
    if request.content_type in FORMS:
        response = web.HTTPSeeOther("/console/login")
    response.del_cookie(sessions.cookie_name(_config(request).web.tls), path="/")
    return response


async def whoami(request: web.Request) -> web.Response:
    identity = authenticate(request)
    body: dict[str, Any] = {"name": identity.name, "kind": identity.kind, "role": identity.role,
                            "permissions": sorted(identity.permissions)}  # fmt: skip
    session = caller(request).session
    if session is not None:
        body["csrf_token"] = sessions.csrf_token(session)
    return web.json_response(body)


async def audit_log(request: web.Request) -> web.Response:
    """``?actor=&action=&since=ISO|1h&limit=`` (``audit.read``, whatever ``web.read_auth`` says)."""
    identity = authenticate(request)
    if identity is ANONYMOUS:
        raise _error(web.HTTPUnauthorized, "a valid bearer token is required", bearer_challenge=True)
    if not identity.can("audit.read"):
        raise _error(web.HTTPForbidden, f"{identity.name!r} ({identity.role}) may not audit.read")
    q = request.query
    try:
        since = parse_since(q["since"]) if q.get("since") else None
        limit = max(1, min(int(q.get("limit", "200")), 5000))
    except ValueError as exc:
        raise _error(web.HTTPBadRequest, str(exc)) from None
    rows = await in_thread(_store(request).audit_log, limit, actor=q.get("actor"), action=q.get("action"), since=since)
    return web.json_response(rows, dumps=lambda d: json.dumps(d, default=str, ensure_ascii=False))


def add_routes(web_app: web.Application) -> None:
    """After :func:`opsagent.auth.http.install`."""
    config = web_app[CONFIG_KEY]
    if config.auth.ldap is not None:
        from opsagent.auth.ldap import require_ldap3

        require_ldap3()  # a clear error at start, not at the first login
    web_app[HASHER_KEY] = Hasher(config.auth.argon2)
    web_app[SLOTS_KEY] = asyncio.Semaphore(LOGIN_SLOTS)
    web_app.router.add_post("/login", login)
    web_app.router.add_post("/logout", logout)
    web_app.router.add_get("/api/v1/session", whoami)
    web_app.router.add_get("/api/v1/audit", audit_log)
