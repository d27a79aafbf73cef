"""The threads HTTP handlers hand their store work to: a pool of their own, as many threads as cores,
not the event loop's default pool.

The default pool is sized for polling (``poll_threads`` + ``max_concurrent_failing_polls``: 48 threads),
where most threads wait on the network. A request's work mostly holds the GIL, and SQLite gives it up
at every row it steps: with twenty requests on twenty threads, every row handed the GIL to another
thread and back — 400–700 context switches a request, where two threads need 40–80 (bench_console,
SQLite queue: 7.9 → 4.1 ms of CPU a request, p95 179 → 84 ms). Each switch costs the most on an idle
virtual machine, whose cores sleep between them. So a few threads serve the requests first come, first
served; one runs Python while another waits on SQLite or PostgreSQL. Long work (password checks, a
directory's bind, period reports, PDFs) goes to the default pool instead, so it never holds these; and
dead targets blocking every poll thread cannot stall the console or the API."""

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
    """One per core, at least 2, at most 16: one thread's statement (run without the GIL) overlaps
    another's Python; more threads only take the GIL from each other."""
    return max(2, min(16, os.cpu_count() or 1))


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
