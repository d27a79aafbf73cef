"""The threads HTTP handlers hand their blocking work to (store reads and writes, password hashes, PDF
renders): a pool of their own, not the event loop's default one.

The default pool is sized for polling (``poll_threads`` + ``max_concurrent_failing_polls``: 48 threads),
where most threads wait on the network. Requests are short and mostly hold the GIL: twenty of them on
twenty threads contend for it, each switch costing CPU, and are served in no fair order, so the slowest
twentieth of the console's pages waited twice as long as the median (bench/bench_console.py: queue p95
178 ms on 48 threads, 60–110 ms on 4–10). A few threads serve them first come, first served, and dead
targets blocking poll threads can never take them."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
THREAD_PREFIX = "opsagent-web"

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_size = 0


def default_threads() -> int:
    """Four per core, at least 4, at most 32: enough for SQLite statements (run without the GIL) and
    PostgreSQL round trips to overlap the Python that renders pages."""
    return max(4, min(32, 4 * (os.cpu_count() or 1)))


def configure(threads: int | None) -> None:
    """The pool's size (``web.threads``; None: :func:`default_threads`). A pool already started keeps
    its threads; the next one takes the new size."""
    global _size
    with _lock:
        _size = threads or default_threads()


def _get() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_size or default_threads(), thread_name_prefix=THREAD_PREFIX)
        return _pool


async def in_thread(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``asyncio.to_thread`` on the handlers' pool: the caller's context variables (the audit origin) go
    with the call."""
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_get(), call)
