"""opsagent's PromQL evaluator beside the real Prometheus engine (promtool) on the same series."""

from __future__ import annotations

import math

import pytest

from tests.peer.promtool_eval import Labels, Result, opsagent_eval, prometheus_eval

pytestmark = pytest.mark.peer

A: Labels = (("asset", "a"),)
WEB1: Labels = (("asset", "web1"),)


def _same(ours: Result | str, theirs: Result | str) -> None:
    if isinstance(theirs, str) or isinstance(ours, str):
        assert isinstance(theirs, str) and isinstance(ours, str), "one refused the expression, the other not"
        return
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if math.isnan(value):
            assert math.isnan(ours[key]), key
        else:
            assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_deriv_and_predict_linear_match_prometheus() -> None:
    n = 41  # 10 minutes at 15 s
    series = {
        ("disk_flat", A): [123456789.123] * n,  # a flat disk: exactly 0 in Prometheus
        ("disk_big", A): [9.87654321e12] * n,
        ("disk_fill", A): [1e9 + 1234.5 * i for i in range(n)],
        ("noisy", A): [100 + (i * 37 % 11) * 0.1 for i in range(n)],
    }
    exprs = [
        "deriv(disk_flat[10m])",
        "deriv(disk_big[10m])",
        "deriv(disk_flat[10m]) > 0",
        "predict_linear(disk_flat[10m], 3600)",
        "deriv(disk_fill[10m])",
        "predict_linear(disk_fill[10m], 86400)",
        "deriv(noisy[7m])",
        "predict_linear(noisy[7m], 600)",
        "predict_linear(disk_fill[5m] offset 2m, 60)",
    ]
    # 607 s: off the sample grid, so a window edge never sits on a sample (Prometheus 2 ranges are
    # closed on the left, Prometheus 3's and opsagent's open)
    theirs = prometheus_eval(series, exprs, 15, 607)
    ours = opsagent_eval(series, exprs, 15, 607)
    assert theirs[0] == {(None, A): 0.0} and theirs[2] == {}
    for expr, o, t in zip(exprs, ours, theirs, strict=True):
        try:
            _same(o, t)
        except AssertionError as exc:
            raise AssertionError(f"{expr}: opsagent {o} vs Prometheus {t}") from exc


def test_name_matchers_match_prometheus() -> None:
    series = {
        ("node_load1", WEB1): [1.0] * 5,
        ("node_load5", WEB1): [5.0] * 5,
        ("node_load15", WEB1): [15.0] * 5,
        ("node_load1", A): [2.0] * 5,
    }
    exprs = [
        '{__name__=~"node_load1|node_load15", asset="web1"}',
        '{__name__!~"node_load1.*"}',
        '{__name__="node_load5"}',
        '{__name__=~"node_load.*", __name__!="node_load5", asset!="web1"}',
        'node_load1{__name__=~"node_load1"}',
        'sum({__name__=~"node_load(1|5)"})',
        'absent({__name__=~"nothing_.*"})',
    ]
    theirs = prometheus_eval(series, exprs, 15, 60)
    ours = opsagent_eval(series, exprs, 15, 60)
    assert len(theirs[0]) == 2
    assert isinstance(theirs[1], str) and isinstance(theirs[4], str)  # refused by Prometheus
    for expr, o, t in zip(exprs, ours, theirs, strict=True):
        try:
            _same(o, t)
        except AssertionError as exc:
            raise AssertionError(f"{expr}: opsagent {o} vs Prometheus {t}") from exc
