"""deriv/predict_linear are numerically stable (Prometheus' centred, compensated regression), and
selectors match on ``__name__``."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from opsagent.alerts.promql import Evaluator, PromQLError, parse
from opsagent.alerts.promql.functions import linear_regression
from opsagent.series import SeriesHistory


def test_constant_series_has_slope_exactly_zero() -> None:
    ts = [1_700_000_000.0 + 15 * i for i in range(41)]
    for value in (123456789.123, 9.87654321e12, 0.1, -3.3):
        assert linear_regression(ts, [value] * len(ts), ts[0]) == (0.0, value)
        slope, intercept = linear_regression(ts, [value] * len(ts), ts[-1] + 7)  # type: ignore[misc]
        assert slope == 0.0 and intercept == value


def test_deriv_of_a_flat_disk_does_not_fire() -> None:
    h = SeriesHistory(retention=1e9)
    for i in range(41):
        h.ingest(
            "p", [("node_filesystem_avail_bytes", {"asset": "a"}, 123456789.123, "gauge")], 1.7e9 + 15 * i, replace=True
        )
    at = 1.7e9 + 600
    ev = Evaluator(h)
    assert ev.evaluate(parse("deriv(node_filesystem_avail_bytes[10m]) > 0"), at) == []
    assert ev.evaluate(parse("deriv(node_filesystem_avail_bytes[10m]) < 0"), at) == []
    out = ev.evaluate(parse("predict_linear(node_filesystem_avail_bytes[10m], 4 * 3600)"), at)
    assert isinstance(out, list) and [e.value for e in out] == [123456789.123]


def test_linear_series_slope() -> None:
    ts = [1.7e9 + 15 * i for i in range(41)]
    slope, intercept = linear_regression(ts, [1e9 + 2.5 * (t - ts[0]) for t in ts], ts[-1])  # type: ignore[misc]
    assert slope == pytest.approx(2.5, rel=1e-12) and intercept == pytest.approx(1e9 + 2.5 * 600, rel=1e-12)


def test_name_matchers() -> None:
    h = SeriesHistory(retention=1e9)
    rows = [
        ("node_load1", {"asset": "web1"}, 1.0, "gauge"),
        ("node_load15", {"asset": "web1"}, 15.0, "gauge"),
        ("node_load5", {"asset": "web1"}, 5.0, "gauge"),
        ("node_load1", {"asset": "db1"}, 2.0, "gauge"),
    ]
    h.ingest("p", rows, 100, replace=True)
    out = Evaluator(h).evaluate(parse('{__name__=~"node_load1|node_load15", asset="web1"}'), 100)
    assert isinstance(out, list) and sorted((e.name, e.value) for e in out) == [
        ("node_load1", 1.0),
        ("node_load15", 15.0),
    ]
    with pytest.raises(PromQLError, match="set twice"):
        parse('node_load1{__name__=~"node_load.*"}')


def test_shared_x_side_gives_the_same_fits() -> None:
    """Series evaluated in a row share the x side of their fit when their timestamps are equal: the
    results are those of separate fits, bit for bit (seeded random series, equal and unequal timestamps)."""
    rng = random.Random(7)
    shared: list[Any] = []
    for _ in range(300):
        n = rng.randint(2, 40)
        ts = sorted({1.7e9 + rng.uniform(0, 21600) for _ in range(n)})
        for _series in range(rng.randint(1, 4)):
            if rng.random() < 0.3:
                ts = [t + rng.choice([0.0, 0.001, 15.0]) for t in ts]  # another batch's timestamps
            vs = [rng.choice([1e12, rng.uniform(-1e9, 1e9), float(rng.randint(0, 10**12))]) for _ in ts]
            at = rng.choice([ts[0], ts[-1] + rng.uniform(0, 60)])
            alone = linear_regression(ts, vs, at)
            assert repr(linear_regression(ts, vs, at, shared)) == repr(alone)


def _kahan_reference(values: list[float]) -> float:
    """Prometheus' kahanSumInc, step by step (promql/functions.go), as the reference: written out here on
    purpose, apart from the product's copy (its fallback path), so a change there is caught."""
    total = c = 0.0
    for inc in values:
        t = total + inc
        if math.isinf(t):
            c = 0.0
        elif abs(total) >= abs(inc):
            c += (total - t) + inc
        else:
            c += (inc - t) + total
        total = t
    return total + c


def _fit_reference(ts: list[float], vs: list[float], at: float) -> tuple[float, float] | None:
    """Prometheus' linearRegression as written there: Python loops, compensated sums step by step."""
    n = len(ts)
    if n < 2:
        return None
    if all(v == vs[0] for v in vs):
        return (math.nan, math.nan) if math.isinf(vs[0]) else (0.0, vs[0])
    origin = round(at * 1000)
    xs = [(round(t * 1000) - origin) / 1e3 for t in ts]
    sx, sxx = _kahan_reference(xs), _kahan_reference([x * x for x in xs])
    sy, sxy = _kahan_reference(vs), _kahan_reference([x * v for x, v in zip(xs, vs, strict=True)])
    cov, var = sxy - sx * sy / n, sxx - sx * sx / n
    slope = cov / var if var != 0 else math.nan
    return slope, sy / n - slope * sx / n


def _same(ours: float, theirs: float) -> bool:
    if math.isnan(theirs) or math.isinf(theirs):
        return repr(ours) == repr(theirs)
    return ours == pytest.approx(theirs, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_sums_at_c_speed_equal_prometheus_compensated_steps(seed: int) -> None:
    """The regression's sums run at C speed (math.fsum, checked to be safe; else the compensated steps):
    every fit equals Prometheus' step-by-step compensated one to 1e-12 (seeded random windows of up to 6 h
    at 1-minute polls, with flat runs, huge and tiny values, NaN, ±Inf and near-overflow values)."""
    rng = random.Random(seed)
    for _ in range(400):
        n = rng.choice([2, 3, 5, 60, 361])
        t0 = 1.7e9 + rng.uniform(0, 1e6)
        ts = [t0 + 60 * i + rng.choice([0.0, 0.0, rng.uniform(0, 2)]) for i in range(n)]
        kind = rng.random()
        if kind < 0.15:
            vs = [rng.choice([123456789.123, 0.0, -3.3])] * n
        elif kind < 0.25:
            vs = [rng.uniform(-1e9, 1e9) for _ in ts]
            vs[rng.randrange(n)] = rng.choice([math.nan, math.inf, -math.inf])
        elif kind < 0.3:
            vs = [rng.choice([1.7e308, -1.7e308, 1e300]) for _ in ts]
        else:
            base, slope = rng.choice([1e12, 5e9, 0.5]), rng.uniform(-1e5, 1e5)
            vs = [base + slope * (t - t0) + rng.gauss(0, abs(base) * 1e-4) for t in ts]
        at = rng.choice([ts[0], ts[-1] + rng.uniform(0, 60)])
        ours, theirs = linear_regression(ts, vs, at), _fit_reference(ts, vs, at)
        assert ours is not None and theirs is not None
        assert _same(ours[0], theirs[0]) and _same(ours[1], theirs[1]), (ours, theirs)
