"""The poller's rules (pure logic, with stand-in collectors): timeouts, no overlap, failures as results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.profiles import Profile
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller
from opsagent.scheduler import PollJobs, make_scheduler


class Opts(BaseModel):
    delay: float = 0.0
    fail: str = ""
    threaded: bool = False


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
        return CollectResult(asset=asset.name, collector=self.name, samples=[Sample.of("x", 1)], facts={"k": 1})


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
    scheduler = make_scheduler()
    scheduler.start(paused=True)
    jobs = PollJobs(scheduler, poller, poller.metrics)
    a, b = Asset(name="a"), Asset(name="b")
    assert jobs.sync([(a, spec(), {}), (b, spec(), {})]) == (2, 0)
    assert jobs.sync([(a, spec(), {}), (b, spec(), {})]) == (0, 0)
    assert jobs.sync([(a, spec(delay=1), {})]) == (1, 1)
    assert [j.id for j in scheduler.get_jobs()] == ["poll:a:fake:"]
    assert scheduler.get_job("poll:a:fake:").max_instances == 1
    scheduler.shutdown(wait=False)


async def test_exporter_style_up_metric_is_zero_on_failure() -> None:
    poller, fake = make_poller()
    fake.up_metric = "fake_up"  # type: ignore[attr-defined]
    poller.metrics.update("db", "fake", [Sample.of("fake_connections", 5), Sample.of("fake_up", 1)])
    result = await poller.poll(Asset(name="db"), spec(fail="collect"), {})
    assert result.samples == [Sample.of("fake_up", 0)]
    assert poller.metrics.latest("db") == [("fake_up", {"asset": "db"}, 0.0)]
