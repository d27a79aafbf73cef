"""A value kept for a while: what several console pages show that is costly to compute and may be a
little old (the values the queue's selects offer). One computation at a time; while it runs, other
callers get the previous value if there is one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._value: tuple[float, T] | None = None

    def get(self, compute: Callable[[], T]) -> T:
        kept = self._value
        if kept is not None and time.monotonic() - kept[0] < self.seconds:
            return kept[1]
        if not self._lock.acquire(blocking=kept is None):
            assert kept is not None
            return kept[1]  # someone is computing it: the previous value meanwhile
        try:
            kept = self._value
            if kept is None or time.monotonic() - kept[0] >= self.seconds:
                kept = self._value = (time.monotonic(), compute())
            return kept[1]
        finally:
            self._lock.release()
