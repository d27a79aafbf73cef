"""Per-asset cached results of local, time-invariant expressions equal a full evaluation (seeded, random)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.memo import AssetMemo
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.promql import parse
from opsagent.alerts.promql.engine import Element, Evaluator
from opsagent.alerts.promql.locality import local_to, steady, time_invariant
from opsagent.alerts.rulefile import load_rules
from opsagent.series import LOOKBACK, SeriesHistory
from opsagent.store import Store, sqlite_url
from tests.unit.test_alert_scoped_ticks import _rows

ROOT = Path(__file__).resolve().parents[2]

EXPRESSIONS = [
    "m_a > 50",
    "m_a / on(asset, dev) m_b * 100 < 30 and m_c == 0",
    "sum by (asset) (m_a) > 100",
    "max by (asset, dev) (m_b) - m_a",
    "abs(m_a - 50) > 20 or m_c",
    "count by (asset) (m_a > 10) > 2",
    "m_a unless on(asset) m_c == 1",
    "clamp_max(m_b, 40) + 1",
]


def _key(elements: list[Element]) -> list[tuple[tuple[tuple[str, str], ...], str, str]]:
    return sorted((tuple(sorted(e.labels.items())), str(e.name), repr(e.value)) for e in elements)


def _batch(rng: random.Random, asset: str | None, devices: int) -> list[tuple[str, dict[str, str], float, str]]:
    rows = []
    for name in ("m_a", "m_b", "m_c"):
        for dev in range(devices):
            if rng.random() < 0.15:
                continue  # this series is missing from the batch: it goes stale
            labels = {"dev": f"d{dev}"} | ({"asset": asset} if asset is not None else {})
            value = float(rng.choice([0, 1, rng.randint(0, 100), rng.random() * 100, math.nan]))
            rows.append((name, labels, value, "gauge"))
    return rows


def _feed(rng: random.Random, history: SeriesHistory, assets: list[str | None], t: float) -> None:
    for asset in [a for a in assets if rng.random() < 0.3]:
        producer = (asset, "ssh")
        when = t - rng.choice([0.0, 0.0, 0.0, 5.0, 500.0])  # sometimes late or out of order
        if rng.random() < 0.05:
            history.forget(producer, when)
            continue
        rows = _batch(rng, asset, rng.randint(1, 3))
        if rng.random() < 0.5:  # the registry's path: same layout, values only
            signature = [(n, tuple(sorted(lb.items())), k) for n, lb, _v, k in rows]
            values = [v for _n, _lb, v, _k in rows]
            history.batch(producer, signature, lambda rows=rows: rows, values, when)
        else:
            history.ingest(producer, rows, when, replace=True)
    if rng.random() < 0.2:  # a producer spanning assets, as recording rules are
        rows = [r for a in rng.sample(assets[:3], 2) for r in _batch(rng, a, 1)]
        history.ingest(("record", "g", "r"), rows, t, replace=True)
    if rng.random() < 0.1:
        history.trim(t)


@pytest.mark.parametrize("seed", range(12))
def test_memo_equals_full_evaluation(seed: int) -> None:
    rng = random.Random(seed)
    history = SeriesHistory(retention=900.0)
    full, cached = Evaluator(history), Evaluator(history)
    exprs = [parse(text) for text in EXPRESSIONS]
    assert all(local_to(e) and time_invariant(e) for e in exprs)
    memos = [AssetMemo(e) for e in exprs]
    assets: list[str | None] = [f"host{i}" for i in range(8)] + [None]
    t = 1_000_000.0
    asked = 0
    for _step in range(120):
        t += rng.choice([0.0, 1.0, 15.0, 15.0, 15.0, 15.0, 15.0, 60.0, LOOKBACK - 1, LOOKBACK + 1])
        _feed(rng, history, assets, t)
        scope = None if rng.random() < 0.6 else frozenset(rng.sample([a or "" for a in assets], 3))
        _agree(exprs, memos, cached, full, t, scope, (seed, _step))
        asked += len(exprs) * (len(assets) if scope is None else len(scope))
    # the cache was used: far fewer assets evaluated than asked for
    assert sum(m.evaluated for m in memos) < asked * 0.9, (sum(m.evaluated for m in memos), asked)


def _agree(exprs: Any, memos: Any, cached: Any, full: Any, t: float, scope: Any, where: tuple[int, int]) -> None:
    """Each memo's answer equals a full evaluation's (for the scope's assets only, when it has one)."""
    for expr, memo in zip(exprs, memos, strict=True):
        got = memo.evaluate(cached, t, scope)
        want = full.evaluate(expr, t)
        assert isinstance(want, list)
        if scope is not None:
            want = [e for e in want if e.labels.get("asset", "") in scope]
        assert _key(got) == _key(want), (*where, expr)


def test_time_invariance_of_expressions() -> None:
    assert time_invariant(parse("node_load15 / on(asset) count by (asset) (node_cpu_seconds_total) > 2"))
    assert not time_invariant(parse("time() - node_boot_time_seconds < 600"))
    assert not time_invariant(parse("rate(x_total[5m]) > 1"))
    assert not time_invariant(parse("x offset 5m > 1"))
    assert not time_invariant(parse('{__name__=~"x|y"} > 1'))


def test_lookback_lapse_without_new_points() -> None:
    """No new point, but the last one ages out of the lookback window: the cached element goes too."""
    history = SeriesHistory()
    history.ingest(("h1", "ssh"), [("m_a", {"asset": "h1"}, 90.0, "gauge")], 1000.0, replace=True)
    memo, evaluator = AssetMemo(parse("m_a > 50")), Evaluator(history)
    assert len(memo.evaluate(evaluator, 1010.0)) == 1
    assert len(memo.evaluate(evaluator, 1000.0 + LOOKBACK - 1)) == 1
    assert memo.evaluated == 1
    assert memo.evaluate(evaluator, 1000.0 + LOOKBACK) == []


def test_an_engine_with_cached_results_moves_its_alerts_as_one_without(tmp_path: Path) -> None:
    """The default rules over hosts polled in turn (values crossing thresholds both ways, some hosts going
    quiet past the lookback), full ticks every 15 s and a poll-driven tick after each poll: an engine with
    its per-asset caches (results and rendered alerts) and one without agree on every alert after every tick
    (state, clocks, value, labels, annotations)."""
    history = SeriesHistory(retention=1e9)
    cached, plain = _engine(tmp_path, "cached", history), _engine(tmp_path, "plain", history)
    plain._memos = {}
    assert cached._memos  # the default rules have time-invariant local rules
    rng = random.Random(11)
    assets = [f"h{i}" for i in range(6)]
    t = 1_000_000.0
    fired = 0
    quiet: set[str] = set()
    for step in range(1, 60):
        if step % 12 in (0, 6):  # two hosts not polled for 6 minutes (past the lookback), then back
            quiet = set(rng.sample(assets, 2)) if step % 12 == 0 else set()
        for asset in assets:
            t += 10.0
            if asset not in quiet:
                history.ingest((asset, "ssh"), _rows(asset, step, rng), t, replace=True)
                fired += sum(tr.kind == "fired" for tr in plain.evaluate(t, frozenset({asset})))
                cached.evaluate(t, frozenset({asset}))
                assert _alerts(cached) == _alerts(plain), (step, asset)
        plain.evaluate(t + 0.5)
        cached.evaluate(t + 0.5)
        assert _alerts(cached) == _alerts(plain), step
    assert fired > 5


def _alerts(engine: AlertEngine) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r.name, a.fingerprint): (a.state, a.active_at, a.fired_at, repr(a.value), a.labels, a.annotations, a.flapping)
        for r, a in engine.active_alerts()
    }


def _engine(tmp_path: Path, name: str, history: SeriesHistory) -> AlertEngine:
    rules = load_rules([ROOT], recording=True)
    return AlertEngine(Store(sqlite_url(tmp_path / f"{name}.db")), history, rules, NotifyConfig())


def test_a_series_a_late_batch_left_out_goes_stale_with_the_next_batch() -> None:
    """A batch older than a series' last point cannot mark it stale; the next batch does, even one with the
    same series as the late one (which would otherwise only append values), and cached results follow."""
    history = SeriesHistory()
    evaluator, memo = Evaluator(history), AssetMemo(parse("m > 0"))

    def batch(t: float, devs: list[str]) -> None:
        rows = [("m", {"asset": "h1", "dev": d}, 1.0, "gauge") for d in devs]
        signature = [(n, tuple(sorted(lb.items())), k) for n, lb, _v, k in rows]
        history.batch(("h1", "ssh"), signature, lambda: rows, [1.0] * len(rows), t)

    batch(100.0, ["a", "b"])
    batch(50.0, ["a"])  # late: b's last point (100) is newer than its stale mark
    assert len(memo.evaluate(evaluator, 101.0)) == 2
    batch(110.0, ["a"])  # b is not in it: stale now
    assert [e.labels["dev"] for e in memo.evaluate(evaluator, 111.0)] == ["a"]
    assert _key(memo.evaluate(evaluator, 111.0)) == _key(evaluator.evaluate(parse("m > 0"), 111.0))  # type: ignore[arg-type]


RANGE_EXPRESSIONS = [
    "rate(m_a[5m]) > 0.01",
    "rate(m_a[5m]) + rate(m_b[5m]) > 0",
    "increase(m_c[15m])",
    "predict_linear(m_b[10m], 3600) < 50",
    "deriv(m_a[10m])",
    "delta(m_c[5m]) != 0 and m_a > 10",
    "max_over_time(m_a[5m]) - min_over_time(m_a[5m])",
    "changes(m_c[10m]) > 0 or resets(m_a[5m])",
    "irate(m_a[2m]) + idelta(m_b[2m])",
]


def _sticky(
    rng: random.Random, asset: str | None, last: dict[Any, float]
) -> list[tuple[str, dict[str, str], float, str]]:
    """A batch whose values mostly stay as they were (counters that do not move, flat disks), sometimes
    step up, drop (a counter reset) or turn NaN; series sometimes left out (stale)."""
    rows = []
    for name in ("m_a", "m_b", "m_c"):
        for dev in range(rng.randint(1, 2)):
            if rng.random() < 0.1:
                continue
            labels = {"dev": f"d{dev}"} | ({"asset": asset} if asset is not None else {})
            key = (name, asset, dev)
            old = last.get(key, 10.0)
            value = old if rng.random() < 0.75 else rng.choice([old + rng.randint(1, 50), old / 2, 0.0, math.nan])
            last[key] = value
            rows.append((name, labels, value, "counter"))
    return rows


@pytest.mark.parametrize("seed", range(10))
def test_memo_of_range_functions_equals_full_evaluation(seed: int) -> None:
    """Range functions held per asset (until a point leaves a window, and only while no value moved with
    the clock) give what a full evaluation gives, at every tick: hosts polled at random times (late,
    out of order, removed and back), values that mostly stay still, resets, NaN, series going stale."""
    rng = random.Random(seed)
    history = SeriesHistory(retention=3600.0)
    full, cached = Evaluator(history), Evaluator(history)
    exprs = [parse(text) for text in RANGE_EXPRESSIONS]
    assert all(local_to(e) and steady(e) and not time_invariant(e) for e in exprs)
    memos = [AssetMemo(e) for e in exprs]
    assets: list[str | None] = [f"host{i}" for i in range(6)] + [None]
    last: dict[Any, float] = {}
    t = 1_000_000.0
    asked = 0
    for step in range(150):
        t += rng.choice([0.0, 1.0, 15.0, 15.0, 15.0, 15.0, 60.0, 119.0, LOOKBACK + 1])
        for asset in [a for a in assets if rng.random() < 0.25]:
            producer = (asset, "ssh")
            when = t - rng.choice([0.0, 0.0, 0.0, 5.0, 500.0])
            if rng.random() < 0.05:
                history.forget(producer, when)
            else:
                history.ingest(producer, _sticky(rng, asset, last), when, replace=True)
        scope = None if rng.random() < 0.6 else frozenset(rng.sample([a or "" for a in assets], 3))
        _agree(exprs, memos, cached, full, t, scope, (seed, step))
        asked += len(exprs) * (len(assets) if scope is None else len(scope))
    assert sum(m.evaluated for m in memos) < asked * 0.9, (sum(m.evaluated for m in memos), asked)


def test_a_range_result_is_held_until_a_point_leaves_the_window() -> None:
    history = SeriesHistory()
    for i in range(5):  # a counter that did not move: rate 0, whatever the extrapolation
        history.ingest(("h1", "ssh"), [("errs_total", {"asset": "h1"}, 7.0, "counter")], 1000.0 + 60 * i, replace=True)
    memo, evaluator = AssetMemo(parse("rate(errs_total[5m])")), Evaluator(history)
    assert [e.value for e in memo.evaluate(evaluator, 1250.0)] == [0.0]
    assert [e.value for e in memo.evaluate(evaluator, 1290.0)] == [0.0]
    assert memo.evaluated == 1  # held
    assert [e.value for e in memo.evaluate(evaluator, 1300.0)] == [0.0]  # the point at 1000 left the window
    assert memo.evaluated == 2
    moving = AssetMemo(parse("rate(errs_total[5m])"))
    history.ingest(("h1", "ssh"), [("errs_total", {"asset": "h1"}, 9.0, "counter")], 1310.0, replace=True)
    moving.evaluate(evaluator, 1311.0)
    moving.evaluate(evaluator, 1320.0)
    assert moving.evaluated == 2 and moving.cached == {}  # it moved: its value follows the clock, never held
