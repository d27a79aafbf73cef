"""deriv/predict_linear are numerically stable (Prometheus' centred, compensated regression), and
selectors match on ``__name__``."""

from __future__ import annotations

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
