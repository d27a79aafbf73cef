"""Slots (pure logic, a stand-in collector): a scheduled poll belongs to the phase point it was due at;
one that could start only more than half an interval after it is skipped, not run late beside the next;
a cluster member schedules jobs only for its shard and re-syncs them when the shard changes."""

from __future__ import annotations

import time

import pytest

from opsagent.collectors.base import Outcome
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.scheduler import PollJobs, make_scheduler, phase, slot
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
    scheduler = make_scheduler()
    scheduler.start(paused=True)
    jobs = PollJobs(scheduler, poller, poller.metrics)
    shard = Shard({"a"})
    jobs.scope = shard
    every = CollectorSpec(name="fake", interval=60, timeout=0.5)
    targets = [(Asset(name=n), every, {}) for n in ("a", "b", "c")]
    assert jobs.sync(targets) == (1, 0)
    assert [j.id for j in scheduler.get_jobs()] == ["poll:a:fake:"]
    assert sorted(a.name for a, _n in jobs.assets()) == ["a", "b", "c"]  # shard sizes see the whole inventory
    jobs.rescope()  # unchanged: nothing to do
    assert [j.id for j in scheduler.get_jobs()] == ["poll:a:fake:"]
    shard.move({"b", "c"})
    jobs.rescope()
    assert sorted(j.id for j in scheduler.get_jobs()) == ["poll:b:fake:", "poll:c:fake:"]
    for job in scheduler.get_jobs():  # the first slot at or after the hand-over, on the target's phase
        first = job.next_run_time.timestamp()
        assert shard.since - 0.001 <= first < shard.since + 60
        assert slot(job.id, 60, first) == pytest.approx(first)
    scheduler.shutdown(wait=False)
