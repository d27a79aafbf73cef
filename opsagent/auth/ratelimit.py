"""Login throttling: after ``max_failures`` failed logins of one username (or ``per_address`` from one
client address) each further attempt waits — ``backoff``, doubling per further failure up to
``backoff_max`` — and is refused meanwhile without checking the password. A success clears the
username's count; failures older than the longest backoff are forgotten. Pure logic over a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 100_000  # bounded memory whatever an attacker sends


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


@dataclass
class LoginThrottle:
    max_failures: int = 5
    per_address: int = 20
    backoff: float = 60.0
    backoff_max: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)

    def _keys(self, username: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [(("user", username.casefold()), self.max_failures), (("addr", address), self.per_address)]

    def wait(self, username: str, address: str) -> float:
        """Seconds until an attempt for ``username`` from ``address`` is heard; 0: now."""
        at = self.clock()
        waits = [c.blocked_until - at for key, _ in self._keys(username, address) if (c := self._counts.get(key))]
        return max([0.0, *waits])

    def failed(self, username: str, address: str) -> None:
        at = self.clock()
        if len(self._counts) >= MAX_KEYS:
            self._forget(at)
        for key, limit in self._keys(username, address):
            count = self._counts.get(key)
            if count is None or at - count.last > self.backoff_max:
                count = self._counts[key] = _Count()
            count.failures += 1
            count.last = at
            if count.failures >= limit:
                delay = min(self.backoff * 2 ** (count.failures - limit), self.backoff_max)
                count.blocked_until = at + delay

    def succeeded(self, username: str) -> None:
        self._counts.pop(("user", username.casefold()), None)

    def _forget(self, at: float) -> None:
        stale = [k for k, c in self._counts.items() if at - c.last > self.backoff_max and c.blocked_until <= at]
        for key in stale:
            del self._counts[key]
        if len(self._counts) >= MAX_KEYS:  # still full of live entries: drop the oldest half
            for key, _ in sorted(self._counts.items(), key=lambda kv: kv[1].last)[: MAX_KEYS // 2]:
                del self._counts[key]
