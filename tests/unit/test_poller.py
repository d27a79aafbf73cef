"""The poller's rules (pure logic, with stand-in collectors): timeouts, no overlap, failures as results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.profiles import Profile
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller
from opsagent.scheduler import PollJobs


class Opts(BaseModel):
    delay: float = 0.0
    fail: str = ""
    threaded: bool = False
    stalled: bool = False


class FakeCollector:
    name = "fake"
    help: Mapping[str, str] = {}
    options_model = Opts

    def __init__(self) -> None:
        self.calls = 0

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        self.calls += 1
        opts = Opts.model_validate(spec.options)
        if opts.threaded:
            await asyncio.to_thread(time.sleep, opts.delay)
        else:
            await asyncio.sleep(opts.delay)
        if opts.fail == "collect":
            raise CollectError("auth", "permission denied")
        if opts.fail == "crash":
            raise RuntimeError("bug")
        return CollectResult(
            asset=asset.name, collector=self.name, samples=[Sample.of("x", 1)], facts={"k": 1}, stalled=opts.stalled
        )


def make_poller(profiles: dict[tuple[str, str], Profile] | None = None) -> tuple[Poller, FakeCollector]:
    fake = FakeCollector()
    return Poller({"fake": fake}, profiles or {}, MetricsRegistry(), max_concurrency=10), fake


def spec(**options: Any) -> CollectorSpec:
    return CollectorSpec(name="fake", interval=10, timeout=0.5, options=options)


async def test_slow_target_times_out_without_delaying_others() -> None:
    poller, _ = make_poller()
    started = time.perf_counter()
    slow, fast = await poller.poll_many([(Asset(name="slow"), spec(delay=30), {}), (Asset(name="fast"), spec(), {})])
    assert slow.outcome is Outcome.TIMEOUT and slow.reason == "timeout"
    assert fast.ok and fast.duration < 0.2
    assert time.perf_counter() - started < 1.5


async def test_no_overlapping_polls_of_one_target_even_past_timeout() -> None:
    poller, fake = make_poller()
    asset = Asset(name="nfs-hang")
    first = await poller.poll(asset, spec(delay=1.0, threaded=True), {})
    assert first.outcome is Outcome.TIMEOUT
    # The thread is still running: the next poll is skipped, not stacked on top of it.
    second = await poller.poll(asset, spec(delay=1.0, threaded=True), {})
    assert second.outcome is Outcome.SKIPPED and second.reason == "overlap"
    assert fake.calls == 1
    await asyncio.sleep(0.8)
    third = await poller.poll(asset, spec(), {})
    assert third.ok


async def test_failures_are_results_with_reasons() -> None:
    poller, _ = make_poller()
    auth, crash = await poller.poll_many(
        [(Asset(name="a"), spec(fail="collect"), {}), (Asset(name="b"), spec(fail="crash"), {})]
    )
    assert (auth.outcome, auth.reason, auth.message) == (Outcome.FAILED, "auth", "permission denied")
    assert (crash.outcome, crash.reason) == (Outcome.FAILED, "crash") and "RuntimeError" in crash.message
    unknown = await poller.poll(Asset(name="c"), CollectorSpec(name="nosuch"), {})
    assert unknown.reason == "config"


async def test_profile_options_merge_and_missing_profile() -> None:
    profile = Profile("fake", "slowish", "", {"delay": 0.01, "fail": "collect"}, "x.yaml")
    poller, _ = make_poller({("fake", "slowish"): profile})
    merged = poller.resolve(CollectorSpec(name="fake", profile="slowish", options={"fail": ""}))
    assert merged.options == {"delay": 0.01, "fail": ""}
    missing = await poller.poll(Asset(name="a"), CollectorSpec(name="fake", profile="nope"), {})
    assert missing.reason == "config" and "no profile 'nope'" in missing.message


async def test_results_reach_metrics_and_sink() -> None:
    seen: list[CollectResult] = []

    async def sink(result: CollectResult) -> None:
        seen.append(result)

    poller, _ = make_poller()
    poller.sink = sink
    await poller.poll(Asset(name="a"), spec(), {})
    assert [r.asset for r in seen] == ["a"]
    assert ("x", {"asset": "a"}, 1.0) in poller.metrics.latest("a")


async def test_poll_jobs_follow_the_inventory() -> None:
    poller, _ = make_poller()
    jobs = PollJobs(poller, poller.metrics)
    a, b = Asset(name="a"), Asset(name="b")
    assert jobs.sync([(a, spec(), {}), (b, spec(), {})]) == (2, 0)
    assert jobs.sync([(a, spec(), {}), (b, spec(), {})]) == (0, 0)
    assert jobs.sync([(a, spec(delay=1), {})]) == (1, 1)
    assert jobs.job_ids() == ["poll:a:fake:"]


async def test_exporter_style_up_metric_is_zero_on_failure() -> None:
    poller, fake = make_poller()
    fake.up_metric = "fake_up"  # type: ignore[attr-defined]
    poller.metrics.update("db", "fake", [Sample.of("fake_connections", 5), Sample.of("fake_up", 1)])
    result = await poller.poll(Asset(name="db"), spec(fail="collect"), {})
    assert result.samples == [Sample.of("fake_up", 0)]
    assert poller.metrics.latest("db") == [("fake_up", {"asset": "db"}, 0.0)]


async def test_slow_and_dead_targets_queue_apart_from_healthy_ones() -> None:
    """Two slots for healthy targets, two for the rest: twenty slow targets (each holding its slot for
    0.5 s) queue among themselves, and a healthy target polled meanwhile gets a slot at once."""
    fake = FakeCollector()
    poller = Poller({"fake": fake}, {}, MetricsRegistry(), max_concurrency=2, probation_concurrency=2)
    fast = CollectorSpec(name="fake", interval=10, timeout=5)
    slow = CollectorSpec(name="fake", interval=10, timeout=5, options={"delay": 1.2})
    first = await poller.poll(Asset(name="healthy"), fast)  # a first poll: fast and ok, so healthy
    assert first.ok
    dead = asyncio.gather(*(poller.poll(Asset(name=f"dead{i}"), slow) for i in range(20)))
    await asyncio.sleep(0.1)  # every dead target is now holding or queued for a probation slot
    started = time.perf_counter()
    for _ in range(5):
        assert (await poller.poll(Asset(name="healthy"), fast)).ok
    assert time.perf_counter() - started < 0.5  # FIFO behind the dead ones it would be ~12 s
    dead.cancel()
    await asyncio.gather(dead, return_exceptions=True)


async def test_a_slow_or_failing_target_leaves_the_healthy_budget() -> None:
    fake = FakeCollector()
    poller = Poller({"fake": fake}, {}, MetricsRegistry(), max_concurrency=1, probation_concurrency=1)
    a = Asset(name="a")
    await poller.poll(a, spec())
    assert ("a", "fake") in poller._healthy
    await poller.poll(a, spec(fail="collect"))
    assert ("a", "fake") in poller._healthy  # one bad poll of a healthy target is a blip
    await poller.poll(a, spec(fail="collect"))
    assert ("a", "fake") not in poller._healthy  # two in a row: it has been failing
    await poller.poll(a, spec())
    assert ("a", "fake") in poller._healthy
    stalled = spec(stalled=True)  # OK, but it waited out a timeout: a probe of a dead TCP port
    await poller.poll(a, stalled)
    await poller.poll(a, spec())
    await poller.poll(a, stalled)
    assert ("a", "fake") in poller._healthy  # the strikes count bad polls in a row only
    await poller.poll(a, stalled)
    assert ("a", "fake") not in poller._healthy
    await poller.poll(Asset(name="b"), spec(fail="collect"))
    assert ("b", "fake") not in poller._healthy  # never healthy: first polls and failures share probation


async def test_a_slow_but_correct_target_stays_in_the_healthy_budget() -> None:
    """A target is judged by its result, not its wall time: on a loaded machine a healthy device's poll
    takes longer than usual (before: over 1 s twice in a row sent it to the failing targets' budget)."""
    fake = FakeCollector()
    poller = Poller({"fake": fake}, {}, MetricsRegistry(), max_concurrency=1, probation_concurrency=1)
    a = Asset(name="a")
    slow = CollectorSpec(name="fake", interval=10, timeout=5, options={"delay": 1.1})
    for _ in range(3):
        assert (await poller.poll(a, slow)).ok
    assert ("a", "fake") in poller._healthy


async def test_cancelled_while_queued_for_a_slot_leaves_the_target_free() -> None:
    fake = FakeCollector()
    poller = Poller({"fake": fake}, {}, MetricsRegistry(), max_concurrency=1, probation_concurrency=1)
    slow = CollectorSpec(name="fake", interval=10, timeout=5, options={"delay": 0.5})
    holder = asyncio.ensure_future(poller.poll(Asset(name="a"), slow))
    queued = asyncio.ensure_future(poller.poll(Asset(name="b"), slow))
    await asyncio.sleep(0.05)
    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    await holder
    assert (await poller.poll(Asset(name="b"), spec())).ok  # not refused as "previous poll still running"


def test_first_runs_spread_over_the_interval_by_a_stable_hash() -> None:
    """As Prometheus offsets scrapes: each target has a fixed phase in its interval (same across
    restarts), and 500 targets of one interval start spread over all of it, not in one burst."""
    from datetime import UTC, datetime, timedelta

    from opsagent.scheduler import first_run, phase

    now = datetime(2026, 12, 6, 12, 0, 0, 250000, tzinfo=UTC)
    offsets = [(first_run(f"poll:dead{i}:snmp:", 60.0, now) - now).total_seconds() for i in range(500)]
    assert all(0 <= o < 60 for o in offsets)
    per_second = [sum(1 for o in offsets if s <= o < s + 1) for s in range(60)]
    assert max(per_second) <= 25  # ~8 a second on average; all in one second before
    assert len({int(o // 10) for o in offsets}) == 6  # every tenth of the interval is used
    for job in (f"poll:dead{i}:snmp:" for i in range(20)):  # the same phase whenever the agent starts
        for start in (now, now + timedelta(seconds=1234.5)):
            assert first_run(job, 60.0, start).timestamp() % 60 == pytest.approx(phase(job, 60.0), abs=1e-3)
