"""Session slots per SSH host (max_sessions_per_host): a free slot is taken without awaiting (the poll
goes straight to the collector's threads), the others queue first come first served, and a queued
poll cancelled at any moment never leaks a slot."""

from __future__ import annotations

import asyncio

from opsagent.collectors.ssh.slots import HostSlots


async def test_free_slots_are_taken_at_once_and_the_rest_queue_in_order() -> None:
    slots = HostSlots(2)
    assert slots.take() and slots.take() and not slots.take()
    order: list[str] = []

    async def queued(name: str) -> None:
        await slots.wait()
        order.append(name)

    first, second = asyncio.ensure_future(queued("first")), asyncio.ensure_future(queued("second"))
    await asyncio.sleep(0)
    slots.give()
    await asyncio.sleep(0)
    assert order == ["first"] and slots.free == 0  # the slot passed to the first waiter
    slots.give()
    await asyncio.gather(first, second)
    assert order == ["first", "second"] and slots.free == 0
    slots.give()
    slots.give()
    assert slots.free == 2


async def test_a_cancelled_waiter_leaks_no_slot() -> None:
    slots = HostSlots(1)
    assert slots.take()
    waiting = asyncio.ensure_future(slots.wait())
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled while still queued
    await asyncio.gather(waiting, return_exceptions=True)
    handed = asyncio.ensure_future(slots.wait())
    await asyncio.sleep(0)
    slots.give()  # handed the slot...
    handed.cancel()  # ...and cancelled before it could run: the slot comes back
    await asyncio.gather(handed, return_exceptions=True)
    assert slots.free == 1 and slots.take()
