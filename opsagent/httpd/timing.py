"""``Server-Timing: app;dur=MS`` on every answer: the time the server spent on the request, from the
first middleware to the response (authentication, the handler, its store reads and rendering). Browser
developer tools show it, and a load client can tell server time from its own (bench/bench_console.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HEADER = "Server-Timing"


def _value(started: float) -> str:
    return f"app;dur={(time.perf_counter() - started) * 1000:.1f}"


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and refusals are answers too
        exc.headers[HEADER] = _value(started)
        raise
    if not response.prepared:  # a streamed answer has sent its headers already
        response.headers[HEADER] = _value(started)
    return response


def install(web_app: web.Application) -> None:
    """Outermost, so the figure covers every other middleware."""
    web_app.middlewares.insert(0, timing_middleware)
