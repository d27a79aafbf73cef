"""The HTTP side of authentication: one middleware finding who each request acts as — a bearer token
(the config's, or a user's own API token) or a console session cookie — and the checks routes call:
``require_permission(request, "incident.ack")`` on every write, ``require_read`` (through the
middleware) on reads when the config asks for authenticated reads (``web.read_auth``).

Cookie-authenticated writes must carry the session's CSRF token (``X-CSRF-Token`` header or a
``csrf_token`` form field) and, when the browser sends one, an ``Origin`` of this server; bearer-token
writes need neither (a browser never adds an Authorization header by itself).

Refusals are raised as aiohttp HTTP exceptions with a JSON body ``{"error": …}``:
401 (no or wrong credentials), 403 (a role without the permission, a missing CSRF token, a body naming
someone else), 503 (writes while no token or user exists — never allowed by default).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from opsagent.auth.identity import ANONYMOUS, Identity
from opsagent.auth.ratelimit import LoginThrottle
from opsagent.auth.roles import read_permission
from opsagent.auth.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, SECURE_COOKIE, csrf_ok
from opsagent.auth.tokens import bearer, match, token_table
from opsagent.config import AgentConfig
from opsagent.httpd.appkeys import CONFIG_KEY
from opsagent.httpd.threads import in_thread
from opsagent.store.engine import Store
from opsagent.store.origin import AUDIT_ORIGIN

OPEN_PATHS = frozenset({"/healthz", "/login", "/console/login"})  # liveness probes and the login form stay open
OPEN_PREFIXES = ("/console/static/",)  # the console's stylesheet (the login page needs it)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STORE_KEY = web.AppKey("auth_store", Store)
THROTTLE_KEY = web.AppKey("login_throttle", LoginThrottle)
AUTH_KEY = web.RequestKey("opsagent_auth", object)  # the Caller found by the middleware
USERS_KEY = web.RequestKey("opsagent_users_exist", bool)  # (anonymous writes) whether any user exists


@dataclass(frozen=True)
class Caller:
    identity: Identity
    refused: str = ""  # credentials were presented but are not valid: why
    session: str | None = None  # the session cookie's value (for its CSRF token)
    # the user's row as read to find the identity (a session's or a user token's): the console's pages
    # take its name, language and zone from here rather than read it again (never shown: it holds the hash)
    user: dict[str, Any] | None = field(default=None, repr=False, compare=False)


def _error(cls: type[web.HTTPException], message: str, bearer_challenge: bool = False) -> web.HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if bearer_challenge else None
    return cls(
        text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json", headers=headers
    )


def install(web_app: web.Application, config: AgentConfig, store: Store | None = None) -> None:
    """Give ``web_app`` the config tokens are read from, the store of users and sessions, and the
    middleware; idempotent (the store is added by whichever call has one)."""
    if CONFIG_KEY not in web_app:
        web_app[CONFIG_KEY] = config
        a = config.auth
        web_app[THROTTLE_KEY] = LoginThrottle(
            a.login_max_failures, a.login_max_failures_per_address, a.login_backoff, a.login_backoff_max
        )
        web_app.middlewares.append(auth_middleware)
    if store is not None and STORE_KEY not in web_app:
        web_app[STORE_KEY] = store


def _config(request: web.Request) -> AgentConfig:
    config = request.app.get(CONFIG_KEY)
    if config is None:  # a route mounted without install(): refuse rather than allow
        raise _error(web.HTTPServiceUnavailable, "authentication is not set up")
    return config


def session_cookie(request: web.Request) -> str | None:
    name = SECURE_COOKIE if _config(request).web.tls else COOKIE
    return request.cookies.get(name) or None


def _user_identity(user: dict[str, object], kind: str) -> Identity:
    return Identity(str(user["username"]), kind, str(user["role"]), int(user["id"]))  # type: ignore[call-overload]


async def _bearer(request: web.Request, token: str) -> Caller | None:
    identity = match(token_table(_config(request)), token)
    if identity is not None:
        return Caller(identity)
    store = request.app.get(STORE_KEY)
    if store is None:
        return None
    from opsagent.store.user_repo import user_of_token

    user = await in_thread(user_of_token, store, token)
    return Caller(_user_identity(user, "user-token"), user=user) if user is not None else None


async def _session(request: web.Request, token: str) -> Caller | None:
    store = request.app.get(STORE_KEY)
    if store is None:
        return None
    from opsagent.auth.sessions import resolve

    user = await in_thread(resolve, store, _config(request).auth, token)
    return Caller(_user_identity(user, "session"), session=token, user=user) if user is not None else None


async def identify(request: web.Request) -> Caller:
    """Who the request acts as: a bearer token's identity, else a session's, else ANONYMOUS."""
    header = request.headers.get("Authorization")
    if header is not None:
        token = bearer(header)
        found = await _bearer(request, token) if token else None
        return found or Caller(ANONYMOUS, "a valid bearer token is required")
    cookie = session_cookie(request)
    if cookie is not None:
        return await _session(request, cookie) or Caller(ANONYMOUS, "the session has ended: sign in again")
    return Caller(ANONYMOUS)


def caller(request: web.Request) -> Caller:
    found = request.get(AUTH_KEY)
    if not isinstance(found, Caller):
        raise _error(web.HTTPServiceUnavailable, "authentication is not set up")
    return found


def authenticate(request: web.Request) -> Identity:
    """Who the request acts as (ANONYMOUS when it presents nothing); presented but invalid: 401."""
    found = caller(request)
    if found.refused:
        raise _error(web.HTTPUnauthorized, found.refused, bearer_challenge=True)
    return found.identity


def _writes_possible(request: web.Request) -> bool:
    if any(identity.writes for identity, _ in token_table(_config(request))):
        return True
    return bool(request.get(USERS_KEY))


def require_permission(request: web.Request, permission: str | None) -> Identity:
    """The identity a write acts as (the actor to record), when its role grants ``permission``
    (None: any write permission); raises 503/401/403 otherwise."""
    found = caller(request)
    if found.identity is ANONYMOUS and not _writes_possible(request):
        raise _error(web.HTTPServiceUnavailable, "writes are disabled: no API token is configured")
    identity = authenticate(request)
    if identity is ANONYMOUS:
        raise _error(web.HTTPUnauthorized, "a valid bearer token is required", bearer_challenge=True)
    if permission is None and not identity.writes:
        raise _error(web.HTTPForbidden, f"the token of {identity.name!r} may only read")
    if permission is not None and not identity.can(permission):
        raise _error(web.HTTPForbidden, f"{identity.name!r} ({identity.role}) may not {permission}")
    return identity


def require_write(request: web.Request) -> Identity:
    """Coarse check: any identity that may write something. Prefer :func:`require_permission`."""
    return require_permission(request, None)


def require_read(request: web.Request) -> Identity:
    """The identity a read acts as: anyone while reads are open, else a valid token or session (401)
    whose role may read the path (403)."""
    if not _config(request).web.read_auth:
        return ANONYMOUS
    identity = authenticate(request)
    if identity is ANONYMOUS:
        raise _error(web.HTTPUnauthorized, "a valid bearer token is required", bearer_challenge=True)
    permission = read_permission(request.path)
    if permission is not None and not identity.can(permission):
        raise _error(web.HTTPForbidden, f"{identity.name!r} ({identity.role}) may not {permission}")
    return identity


def refuse_impersonation(named: object, identity: Identity, field: str) -> None:
    """A body may repeat the caller's own name but never choose another (403)."""
    if named not in (None, "", identity.name):
        raise _error(web.HTTPForbidden, f"{field}: this token acts as {identity.name!r}, not {named!r}")


def _same_origin(request: web.Request) -> bool:
    """No Origin header (old browsers, non-browser clients), or one naming this very server."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.host and parts.scheme == ("https" if _config(request).web.tls else "http")


async def check_csrf(request: web.Request, session: str) -> None:
    """403 unless a cookie-authenticated write carries its session's CSRF token and comes from here."""
    if not _same_origin(request):
        raise _error(web.HTTPForbidden, "cross-site request refused (Origin)")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_ok(session, given):
        raise _error(web.HTTPForbidden, "a valid CSRF token is required (X-CSRF-Token or csrf_token)")


def _origin(request: web.Request, identity: Identity) -> str:
    how = {"session": "session", "user-token": "user token", "token": "config token"}.get(identity.kind, "")
    return f"http {request.remote or '-'}" + (f" ({how})" if how else "")


def _open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    found = await identify(request)
    request[AUTH_KEY] = found
    unsafe = request.method in UNSAFE
    if unsafe and found.identity is ANONYMOUS and (store := request.app.get(STORE_KEY)):
        from opsagent.store.user_repo import user_count

        request[USERS_KEY] = await in_thread(user_count, store) > 0
    if unsafe and found.session is not None and request.path != "/login":
        await check_csrf(request, found.session)
    if not unsafe and request.method != "OPTIONS" and not _open(request.path):
        require_read(request)
    token = AUDIT_ORIGIN.set(_origin(request, found.identity))
    try:
        return await handler(request)
    finally:
        AUDIT_ORIGIN.reset(token)
