"""Request input, validated before any handler logic: JSON bodies through pydantic models (size
capped by the application's ``client_max_size``, nesting bounded by pydantic's JSON parser, read
within ``web.body_timeout``), numeric ids bounded to what the store holds. Every refusal is a
4xx with a JSON ``{"error": …}``, never a 500."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from opsagent.httpd.appkeys import CONFIG_KEY
from opsagent.httpd.config import WebConfig

M = TypeVar("M", bound=BaseModel)
MAX_ID = 2**63 - 1  # the store's integer keys are signed 64-bit
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULTS = WebConfig()


def error(cls: type[web.HTTPException], message: str) -> web.HTTPException:
    return cls(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


def describe(exc: ValidationError, limit: int = 5) -> str:
    """``field: message`` per problem, the input values left out (they may hold anything)."""
    parts = []
    for problem in exc.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(p) for p in problem["loc"])
        parts.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return "; ".join(parts)


async def read_model(request: web.Request, model: type[M], empty_ok: bool = True) -> M:
    """The request body as ``model``: 400 invalid, 408 too slow, 413 too big."""
    config = request.app.get(CONFIG_KEY)
    timeout = (config.web if config is not None else _DEFAULTS).body_timeout
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()
    except TimeoutError:
        raise error(web.HTTPRequestTimeout, f"the request body did not arrive within {timeout:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        raise web.HTTPRequestEntityTooLarge(
            limit, request.content_length or limit + 1,
            text=json.dumps({"error": "the request body is too large"}), content_type="application/json",
        ) from None  # fmt: skip
    if not raw.strip() and empty_ok:
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise error(web.HTTPBadRequest, describe(exc)) from None


def path_id(request: web.Request, what: str, key: str = "id") -> int:
    """A numeric path segment: 400 when not a number, 404 when no row can have it."""
    text = request.match_info[key]
    if not text.isascii() or not text.isdigit():
        raise error(web.HTTPBadRequest, f"{what} id must be a number")
    value = int(text) if len(text) <= 20 else MAX_ID + 1
    if not 0 < value <= MAX_ID:
        raise error(web.HTTPNotFound, f"no {what} #{text[:20]}")
    return value


def sane_time(value: datetime, ahead: timedelta) -> datetime:
    """A timestamp from a client, between 1970 and ``ahead`` from now (ValueError otherwise)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    latest = datetime.now(UTC) + ahead
    if not EARLIEST <= value <= latest:
        raise ValueError(f"must lie between 1970 and {latest:%Y-%m-%d} (got {value:%Y-%m-%d})")
    return value
