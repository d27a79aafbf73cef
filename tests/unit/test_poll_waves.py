"""Poll waves (pure logic, a stand-in collector): with ``poll_wave`` set, each target's phase falls on its
interval's grid of waves, the waves are evenly loaded and stable across restarts, an interval shorter than
two waves keeps the one-by-one spread, and the targets of one wave really start together."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsagent.config import DEFAULT_POLL_WAVE, AgentConfig
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.scheduler import PollJobs, first_run, phase, slot
from tests.unit.test_poller import make_poller

JOBS = [f"poll:host{i:04d}:ssh:linux" for i in range(600)]


def test_phases_fall_on_the_wave_grid_evenly_loaded() -> None:
    phases = [phase(job, 60.0, 15.0) for job in JOBS]
    per_wave = Counter(phases)
    assert sorted(per_wave) == [0.0, 15.0, 30.0, 45.0]
    assert all(100 <= n <= 200 for n in per_wave.values())  # 150 each on average
    # each target keeps its wave, and its place follows its unwaved phase (the same hash)
    for job in JOBS[:50]:
        assert phase(job, 60.0, 15.0) == phase(job, 60.0, 15.0)
        assert phase(job, 60.0, 15.0) <= phase(job, 60.0) < phase(job, 60.0, 15.0) + 15.0


def test_an_interval_not_a_multiple_of_the_wave_gets_the_nearest_number_of_waves() -> None:
    assert sorted(Counter(phase(job, 17.0, 5.0) for job in JOBS)) == pytest.approx([0.0, 17 / 3, 34 / 3])
    assert len(Counter(phase(job, 300.0, 15.0) for job in JOBS)) == 20


@pytest.mark.parametrize(("interval", "wave"), [(60.0, 0.0), (20.0, 15.0), (5.0, 15.0)])
def test_no_waves_spreads_targets_one_by_one(interval: float, wave: float) -> None:
    """``poll_wave: 0``, or an interval shorter than two waves: every target on its own phase."""
    phases = [phase(job, interval, wave) for job in JOBS]
    assert phases == [phase(job, interval) for job in JOBS]
    assert len(set(phases)) == len(JOBS)


def test_first_runs_and_slots_follow_the_waves() -> None:
    now = datetime(2026, 12, 8, 1, 2, 3, 400000, tzinfo=UTC)
    for job in JOBS[:40]:
        for start in (now, now + timedelta(seconds=1234.5)):
            first = first_run(job, 60.0, start, 15.0).timestamp()
            assert start.timestamp() <= first < start.timestamp() + 60
            assert first % 60 == pytest.approx(phase(job, 60.0, 15.0), abs=1e-3)
            assert slot(job, 60.0, first, 15.0) == pytest.approx(first)
            assert slot(job, 60.0, first + 29.0, 15.0) == pytest.approx(first)  # late: the slot it missed


def test_the_default_is_a_wave_every_15_seconds() -> None:
    assert AgentConfig().poll_wave == DEFAULT_POLL_WAVE == 15.0
    assert AgentConfig(poll_wave=0).poll_wave == 0
    with pytest.raises(ValueError, match="poll_wave"):
        AgentConfig(poll_wave=-1)


async def test_the_targets_of_a_wave_start_together() -> None:
    """Twelve targets, a 2 s interval in four waves of 0.5 s: each poll starts at its wave's point (one
    loop wake-up starts them all), and over two intervals every target is polled once per interval."""
    poller, fake = make_poller()
    started: dict[str, list[float]] = {}
    collect = fake.collect

    async def timed(asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> Any:
        started.setdefault(asset.name, []).append(time.time())
        return await collect(asset, spec, variables)

    fake.collect = timed  # type: ignore[method-assign]
    jobs = PollJobs(poller, poller.metrics, wave=0.5)
    every = CollectorSpec(name="fake", interval=2, timeout=0.5)
    names = [f"h{i}" for i in range(12)]
    jobs.sync([(Asset(name=n), every, {}) for n in names])
    grid = {round(phase(f"poll:{n}:fake:", 2.0, 0.5), 3) for n in names}
    assert grid <= {0.0, 0.5, 1.0, 1.5} and len(grid) >= 2
    jobs.start()
    try:
        await asyncio.sleep(4.3)
    finally:
        jobs.stop()
    assert sorted(started) == sorted(names)
    waves: dict[tuple[float, int], list[float]] = {}
    for name in names:
        wave_point = phase(f"poll:{name}:fake:", 2.0, 0.5)
        assert 2 <= len(started[name]) <= 3
        for t in started[name]:  # at or after its wave's point, before the next wave's (a busy loop wakes late)
            assert (t - wave_point) % 2.0 < 0.45
            waves.setdefault((wave_point, int((t - wave_point) // 2.0)), []).append(t)
    # the targets of one wave start in the same pass of the loop: far closer than one wave to the next
    assert any(len(ts) > 1 for ts in waves.values())
    assert all(max(ts) - min(ts) < 0.45 for ts in waves.values())
