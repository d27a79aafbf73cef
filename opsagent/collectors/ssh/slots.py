"""Session slots per SSH host (``max_sessions_per_host``), kept on the event loop.

Unlike an ``asyncio.Semaphore``, a free slot is taken without awaiting, so a poll that finds one
hands its blocking work to the collector's threads at once and the poller awaits that work's own
future: no coroutine, task or extra loop pass per poll. A poll that finds none queues for one.
"""

from __future__ import annotations

import asyncio
from collections import deque


class HostSlots:
    __slots__ = ("_waiters", "free")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()  # only while no slot is free

    def take(self) -> bool:
        """Take a free slot now; False when there is none (then :meth:`wait` for one)."""
        if self.free > 0:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a slot, first come first served; it is the caller's once this returns."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled
                self.give()
            raise

    def give(self, _done: object = None) -> None:
        """Give a slot back (also usable as a future's done callback): to the next waiter, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1
