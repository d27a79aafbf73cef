"""Poll results bring the alert tick forward, but never one full evaluation per poll: ticks driven by
pokes take at most POKE_CPU_SHARE of a core (a 1,000-target fleet polled every few ms would otherwise
evaluate every rule over every series a thousand times per interval)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from opsagent.alerts import engine as engine_module
from opsagent.alerts.engine import AlertEngine, TickResult
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url


def _engine(tmp_path: Path, tick_seconds: float) -> tuple[AlertEngine, list[float]]:
    engine = AlertEngine(Store(sqlite_url(tmp_path / "s.db")), SeriesHistory(), [], NotifyConfig())
    ticks: list[float] = []

    async def tick(t: float | None = None, scope: frozenset[str] | None = None) -> TickResult:  # costs tick_seconds
        ticks.append(time.monotonic())
        await asyncio.sleep(tick_seconds)
        engine.stats.last_tick_seconds = tick_seconds
        return TickResult([], [], [], 0)

    engine.tick = tick  # type: ignore[method-assign]
    return engine, ticks


async def _run_with_pokes(engine: AlertEngine, seconds: float) -> None:
    stop = asyncio.Event()
    runner = asyncio.create_task(engine.run(stop))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        engine.poke()  # a poll result every 2 ms
        await asyncio.sleep(0.002)
    stop.set()
    await asyncio.wait_for(runner, 10)


def test_a_cheap_evaluation_follows_the_polls_closely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "POKE_BATCH_SECONDS", 0.05)
    engine, ticks = _engine(tmp_path, 0.0005)
    asyncio.run(_run_with_pokes(engine, 1.5))
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 5, ticks  # spacing 50 ms: many ticks in 1.5 s, even on a busy machine
    assert min(gaps) >= engine_module.POKE_BATCH_SECONDS * 0.9


def test_polls_within_the_batch_window_make_one_tick_and_a_lone_poll_ticks_at_once(tmp_path: Path) -> None:
    """The shipped window: a steady stream of poll results (a poke every 2 ms for 3 s) makes the tick at
    the start and then none until POKE_BATCH_SECONDS after it; after a quiet spell, one poll result is
    evaluated at once."""
    engine, ticks = _engine(tmp_path, 0.0005)
    engine.config.evaluation.interval = 60.0

    async def scenario() -> float:
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.run(stop))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            engine.poke("h1")
            await asyncio.sleep(0.002)
        assert len(ticks) == 1, ticks  # the run's first (full) tick; the 1,500 pokes wait for the window
        await asyncio.sleep(engine_module.POKE_BATCH_SECONDS - 3.0 + 0.5)
        assert len(ticks) == 2, ticks  # the batch, once the window has passed
        await asyncio.sleep(engine_module.POKE_BATCH_SECONDS)
        poked = time.monotonic()
        engine.poke("h2")  # a lone result after a quiet spell
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(runner, 10)
        return poked

    poked = asyncio.run(scenario())
    assert len(ticks) == 3, ticks
    assert ticks[2] - poked < 0.4  # at once, not after another window
    assert ticks[1] - ticks[0] >= engine_module.POKE_BATCH_SECONDS * 0.95


def test_a_costly_evaluation_keeps_its_cpu_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "POKE_BATCH_SECONDS", 0.05)  # the share, not the window, paces here
    tick_seconds = 0.01  # → spacing 0.5 s at a 2 % share
    engine, ticks = _engine(tmp_path, tick_seconds)
    asyncio.run(_run_with_pokes(engine, 1.6))
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert gaps and min(gaps) >= tick_seconds / engine_module.POKE_CPU_SHARE * 0.95, gaps
    assert len(ticks) <= 4, ticks  # not one per poke (800 pokes)


def test_pacing_never_exceeds_the_evaluation_interval_and_stops_at_once(tmp_path: Path) -> None:
    engine, _ticks = _engine(tmp_path, 0.0)
    engine.stats.last_tick_seconds = 100.0  # would mean 5,000 s between ticks
    stop = asyncio.Event()

    async def paced() -> float:
        started = time.monotonic()
        await engine._pace(stop, started, 0.3)
        return time.monotonic() - started

    assert 0.29 <= asyncio.run(paced()) < 30
    stop.set()
    assert asyncio.run(paced()) < 30  # a stop ends the wait: serve's shutdown is not delayed
