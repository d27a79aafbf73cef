"""Time alone moves some alerts: a pending alert fires once its ``for`` has passed, an alert kept firing
(``keep_firing_for``) resolves once that has. serve's evaluation wakes for those deadlines, so they take
effect on time even with a long evaluation interval (the shipped 1 minute) and no poll in between."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.alerts.state import FIRING, PENDING
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url


def _engine(tmp_path: Path, rule: str, history: SeriesHistory) -> AlertEngine:
    rules = compile_document(parse_yaml_text(f"groups: [{{name: g, rules: [{rule}]}}]", "r.yaml"))
    config = NotifyConfig.model_validate({"evaluation": {"interval": "1m"}})
    return AlertEngine(Store(sqlite_url(tmp_path / "s.db")), history, rules, config)


def _states(engine: AlertEngine) -> dict[str, str]:
    return {a.labels["asset"]: a.state for _r, a in engine.active_alerts()}


async def _watch(engine: AlertEngine, seconds: float, until: object) -> tuple[float, dict[str, str]]:
    """Run the engine until ``until(states)`` holds (or ``seconds`` pass): how long it took, the states."""
    stop = asyncio.Event()
    runner = asyncio.create_task(engine.run(stop))
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            await asyncio.sleep(0.05)
            states = _states(engine)
            if until(states):  # type: ignore[operator]
                return time.monotonic() - started, states
        return time.monotonic() - started, _states(engine)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)


def test_a_pending_alert_fires_when_its_for_ends_not_at_the_next_full_tick(tmp_path: Path) -> None:
    history = SeriesHistory()
    for host, value in (("h1", 1.0), ("h2", 50.0)):  # h1 below the threshold, h2 not
        history.ingest((host, "c"), [("m", {"asset": host}, value, "gauge")], time.time(), replace=True)
    engine = _engine(tmp_path, "{alert: Low, expr: 'm < 10', for: 1s}", history)
    took, states = asyncio.run(_watch(engine, 20, lambda s: s.get("h1") == FIRING))
    assert states == {"h1": FIRING}, states
    assert 0.9 < took < 10, took  # its `for` (1 s) after the first tick, not the 60 s interval


def test_an_alert_kept_firing_resolves_when_its_keep_firing_for_ends(tmp_path: Path) -> None:
    history = SeriesHistory()
    history.ingest(("h1", "c"), [("m", {"asset": "h1"}, 1.0, "gauge")], time.time(), replace=True)
    engine = _engine(tmp_path, "{alert: Low, expr: 'm < 10', keep_firing_for: 1s}", history)

    async def scenario() -> tuple[float, dict[str, str]]:
        await engine.tick()
        assert _states(engine) == {"h1": FIRING}
        history.ingest(("h1", "c"), [("m", {"asset": "h1"}, 50.0, "gauge")], time.time(), replace=True)
        await engine.tick(scope=frozenset({"h1"}))  # the poll that ends the match: kept firing for 1 s
        assert _states(engine) == {"h1": FIRING}
        return await _watch(engine, 20, lambda s: not s)

    took, states = asyncio.run(scenario())
    assert states == {}, states
    assert took < 10, took  # resolved when keep_firing_for ended, not at the next full tick


def test_deadlines_are_woken_for_once(tmp_path: Path) -> None:
    """A deadline already looked at is not woken for again (an alert held pending, say restored after a
    restart and waiting for its series, must not make the evaluation spin)."""
    history, then = SeriesHistory(), time.time() - 7200
    history.ingest(("h1", "c"), [("m", {"asset": "h1"}, 1.0, "gauge")], then, replace=True)
    engine = _engine(tmp_path, "{alert: Low, expr: 'm < 10', for: 1h}", history)
    engine.evaluate(then)  # pending since two hours ago: its deadline has passed
    assert _states(engine) == {"h1": PENDING}
    engine._clock_seen = then  # the last look was before its deadline
    assert engine._until_deadline() == engine._until_deadline() < 0.1  # due: wake at once
    engine._poke_deadlines()
    assert engine._poked_assets == {"h1"}
    assert engine._until_deadline() == float("inf")  # seen: no wake for it again
