"""Slots (pure logic, a stand-in collector): a scheduled poll belongs to the phase point it was due at;
one that could start only more than half an interval after it is skipped, not run late beside the next;
a cluster member schedules jobs only for its shard and re-syncs them when the shard changes."""

from __future__ import annotations

import asyncio
import time

import pytest

from opsagent.collectors.base import Outcome
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.scheduler import PollJobs, phase, slot
from tests.unit.test_poller import make_poller, spec


def test_a_run_belongs_to_the_slot_it_was_due_at() -> None:
    job, interval = "poll:a:fake:", 10.0
    due = 1_000_000 * interval + phase(job, interval)
    assert slot(job, interval, due) == pytest.approx(due)
    assert slot(job, interval, due + 0.001) == pytest.approx(due)
    assert slot(job, interval, due - 0.000_001) == pytest.approx(due)  # the scheduler's µs rounding
    assert slot(job, interval, due + 7.5) == pytest.approx(due)  # late: still the slot it missed
    assert slot(job, interval, due + interval) == pytest.approx(due + interval)


async def test_a_poll_later_than_half_an_interval_after_its_slot_is_skipped() -> None:
    poller, fake = make_poller()
    target = spec()  # interval 10 s
    first = await poller.poll(Asset(name="a"), target, {}, due=time.time())  # healthy from here on
    assert first.ok and fake.calls == 1
    late = await poller.poll(Asset(name="a"), target, {}, due=time.time() - 6)
    assert (late.outcome, late.reason, fake.calls) == (Outcome.SKIPPED, "late", 1)
    assert poller.metrics._stats[("a", "fake")].skipped == 1  # opsagent_collect_skipped_total
    on_time = await poller.poll(Asset(name="a"), target, {}, due=time.time() - 4)
    assert on_time.ok and fake.calls == 2 and on_time.started > 0


async def test_a_target_on_probation_is_polled_even_when_its_turn_came_late() -> None:
    """A new target waits for the failing budget behind dead ones, so it gets there late. Skipped for
    that, it never showed it was healthy and was never polled (serve beside 500 dead targets: localhost
    had no poll at all in 45 s)."""
    poller, fake = make_poller()
    target = spec()
    late = await poller.poll(Asset(name="new"), target, {}, due=time.time() - 6)
    assert late.ok and fake.calls == 1
    late_again = await poller.poll(Asset(name="new"), target, {}, due=time.time() - 6)  # healthy now
    assert (late_again.outcome, late_again.reason, fake.calls) == (Outcome.SKIPPED, "late", 1)


class Shard:
    def __init__(self, mine: set[str]) -> None:
        self.mine = mine
        self.token = object()
        self.since = time.time()

    def epoch(self) -> tuple[object, float]:
        return self.token, self.since

    def may_poll(self, asset: Asset) -> bool:
        return asset.name in self.mine

    def move(self, mine: set[str]) -> None:
        self.mine, self.token, self.since = mine, object(), time.time()


async def test_a_cluster_member_schedules_only_its_shard() -> None:
    poller, _ = make_poller()
    jobs = PollJobs(poller, poller.metrics)
    shard = Shard({"a"})
    jobs.scope = shard
    every = CollectorSpec(name="fake", interval=60, timeout=0.5)
    targets = [(Asset(name=n), every, {}) for n in ("a", "b", "c")]
    assert jobs.sync(targets) == (1, 0)
    assert jobs.job_ids() == ["poll:a:fake:"]
    assert sorted(a.name for a, _n in jobs.assets()) == ["a", "b", "c"]  # shard sizes see the whole inventory
    jobs.rescope()  # unchanged: nothing to do
    assert jobs.job_ids() == ["poll:a:fake:"]
    shard.move({"b", "c"})
    jobs.rescope()
    assert sorted(jobs.job_ids()) == ["poll:b:fake:", "poll:c:fake:"]
    for job_id in jobs.job_ids():  # the first slot at or after the hand-over, on the target's phase
        first = jobs.next_run(job_id)
        assert shard.since - 0.001 <= first < shard.since + 60
        assert slot(job_id, 60, first) == pytest.approx(first)


async def test_each_target_is_polled_by_its_own_timer_at_its_slot() -> None:
    """The poll jobs are event-loop timers: a target's timer fires at its slot, polls it once and is
    re-armed for the slot an interval later."""
    poller, fake = make_poller()
    jobs = PollJobs(poller, poller.metrics)
    every = CollectorSpec(name="fake", interval=2, timeout=0.5)
    jobs.sync([(Asset(name="a"), every, {})])
    first = jobs.next_run("poll:a:fake:")
    assert slot("poll:a:fake:", 2, first) == pytest.approx(first)
    jobs.start()
    try:
        deadline = time.monotonic() + 30
        while fake.calls == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert fake.calls == 1
        assert time.time() >= first - 0.01
        assert jobs.next_run("poll:a:fake:") == pytest.approx(first + 2)
    finally:
        jobs.stop()


async def test_a_slot_reached_while_the_last_poll_runs_or_too_late_is_skipped_and_counted() -> None:
    """As APScheduler's max_instances=1 and misfire grace did: never two polls of a target at once, and a
    loop that woke more than half an interval after the slot skips it; both count in
    opsagent_collect_skipped_total, and the next slot is armed either way."""
    poller, fake = make_poller()
    jobs = PollJobs(poller, poller.metrics)
    every = CollectorSpec(name="fake", interval=10, timeout=0.5)
    jobs.sync([(Asset(name="a"), every, {})])
    entry = jobs._slots["poll:a:fake:"]
    running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    entry.task = running  # type: ignore[assignment]
    entry.due = due = time.time()
    jobs._fire("poll:a:fake:", entry)
    assert fake.calls == 0 and poller.metrics._stats[("a", "fake")].skipped == 1
    assert jobs.next_run("poll:a:fake:") == pytest.approx(due + 10)
    running.set_result(None)
    entry.due = time.time() - 26  # the loop froze: two slots missed, the last one 6 s ago (> 5 s)
    jobs._fire("poll:a:fake:", entry)
    assert fake.calls == 0 and poller.metrics._stats[("a", "fake")].skipped == 2  # missed slots: one skip
    assert time.time() < jobs.next_run("poll:a:fake:") <= time.time() + 10
    entry.due = time.time() - 4  # late, but within half an interval: polled
    jobs._fire("poll:a:fake:", entry)
    assert entry.task is not None
    await entry.task
    assert fake.calls == 1 and poller.metrics._stats[("a", "fake")].skipped == 2


async def test_a_poll_in_flight_when_its_target_leaves_the_shard_leaves_no_series_behind() -> None:
    """The shard moved while a target's poll ran: the poll ends after its job was removed and records its
    series. They must go then too — a cluster member kept publishing a moved target's series beside its
    new owner's (a cluster rule counted it twice) until the lookback ran out."""
    poller, fake = make_poller()
    jobs = PollJobs(poller, poller.metrics)
    shard = Shard({"a", "b"})
    jobs.scope = shard
    slow = CollectorSpec(name="fake", interval=60, timeout=5, options={"delay": 0.3})
    jobs.sync([(Asset(name="a"), slow, {}), (Asset(name="b"), slow, {})])
    polls = [asyncio.ensure_future(jobs._slots[f"poll:{n}:fake:"].run()) for n in ("a", "b")]
    for n, task in zip(("a", "b"), polls, strict=True):
        jobs._slots[f"poll:{n}:fake:"].task = task
    await asyncio.sleep(0.05)
    assert fake.calls == 2  # both polls in flight
    shard.move({"b"})
    jobs.rescope()
    assert jobs.job_ids() == ["poll:b:fake:"]
    await asyncio.gather(*polls)
    await asyncio.sleep(0)  # the done callbacks
    now = time.time()
    live = {s.labels.get("asset") for s in poller.metrics.history.select("x") if s.instant(now) is not None}
    assert live == {"b"}
