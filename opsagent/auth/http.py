"""The HTTP side of authentication: one ``authenticate(request)`` giving an :class:`Identity`, and the
checks routes call — ``require_write`` on every write, ``require_read`` (through ``read_middleware``)
on reads when the config asks for authenticated reads (``web.read_auth``).

Refusals are raised as aiohttp HTTP exceptions with a JSON body ``{"error": …}``:
401 (no or a wrong token), 403 (a read-only token writing, or a body naming someone else),
503 (writes while no write token is configured — never allowed by default).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from opsagent.auth.identity import ANONYMOUS, READ, WRITE, Identity
from opsagent.auth.tokens import bearer, match, token_table
from opsagent.config import AgentConfig
from opsagent.httpd.appkeys import CONFIG_KEY

OPEN_PATHS = frozenset({"/healthz"})  # liveness probes stay open
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(cls: type[web.HTTPException], message: str, bearer_challenge: bool = False) -> web.HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if bearer_challenge else None
    return cls(text=json.dumps({"error": message}), content_type="application/json", headers=headers)


def install(web_app: web.Application, config: AgentConfig) -> None:
    """Give ``web_app`` the config tokens are read from, and the read check; idempotent."""
    if CONFIG_KEY not in web_app:
        web_app[CONFIG_KEY] = config
        web_app.middlewares.append(read_middleware)


def _config(request: web.Request) -> AgentConfig:
    config = request.app.get(CONFIG_KEY)
    if config is None:  # a route mounted without install(): refuse rather than allow
        raise _error(web.HTTPServiceUnavailable, "authentication is not set up")
    return config


def authenticate(request: web.Request) -> Identity:
    """Who the request acts as: the identity of its bearer token, or ANONYMOUS when it presents none.
    A token that matches no identity (or another scheme) is refused: 401."""
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS
    token = bearer(header)
    identity = match(token_table(_config(request)), token) if token else None
    if identity is None:
        raise _error(web.HTTPUnauthorized, "a valid bearer token is required", bearer_challenge=True)
    return identity


def require_write(request: web.Request) -> Identity:
    """The identity a write acts as (the actor to record); raises 503/401/403 otherwise."""
    if not any(identity.can(WRITE) for identity, _ in token_table(_config(request))):
        raise _error(web.HTTPServiceUnavailable, "writes are disabled: no API token is configured")
    identity = authenticate(request)
    if identity is ANONYMOUS:
        raise _error(web.HTTPUnauthorized, "a valid bearer token is required", bearer_challenge=True)
    if not identity.can(WRITE):
        raise _error(web.HTTPForbidden, f"the token of {identity.name!r} may only read")
    return identity


def require_read(request: web.Request) -> Identity:
    """The identity a read acts as: anyone while reads are open, else a valid token (401)."""
    if not _config(request).web.read_auth:
        return ANONYMOUS
    identity = authenticate(request)
    if identity is ANONYMOUS or not identity.can(READ):
        raise _error(web.HTTPUnauthorized, "a valid bearer token is required", bearer_challenge=True)
    return identity


def refuse_impersonation(named: object, identity: Identity, field: str) -> None:
    """A body may repeat the caller's own name but never choose another (403)."""
    if named not in (None, "", identity.name):
        raise _error(web.HTTPForbidden, f"{field}: this token acts as {identity.name!r}, not {named!r}")


@web.middleware
async def read_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in ("GET", "HEAD") and request.path not in OPEN_PATHS:
        require_read(request)
    return await handler(request)
