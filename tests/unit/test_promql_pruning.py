"""A range function on the left of an operator that keeps only matched left elements is computed only for
the series with a match on the right (``rate(rx[5m]) / node_network_speed_bytes``: no rate for lo and the
veths, which have no speed). The results are the same as without the pruning, over random series."""

from __future__ import annotations

import random

import pytest

from opsagent.alerts.memo import AssetMemo
from opsagent.alerts.promql import EvalError, Evaluator, parse
from opsagent.alerts.promql import engine as promql_engine
from opsagent.series import SeriesHistory

EXPRESSIONS = [
    "rate(rx_total[5m]) / speed > 0.5 and speed > 0",
    "rate(rx_total[5m]) / speed",
    "increase(rx_total[5m]) > on(asset, device) speed",
    "rate(rx_total[5m]) * on(asset) group_left(site) site_info",
    "predict_linear(avail[10m], 3600) < 0 and readonly == 0",
    "avg_over_time(avail[5m]) and on(asset) up == 1",
    "rate(rx_total[5m]) / ignoring(kind) speed",
    "rate(rx_total[5m]) or speed",  # not pruned: or keeps both sides
    "rate(rx_total[5m]) unless speed",  # not pruned
    "rate(rx_total[5m]) / 2",  # a scalar on the right: nothing to prune by
]


def _history(seed: int) -> SeriesHistory:
    rng = random.Random(seed)
    history = SeriesHistory()
    devices = ["lo", "eth0", "eth1", "veth1", "veth2"]
    for step in range(12):
        t = 1000.0 + 60 * step
        for host in range(6):
            asset = f"h{host}"
            rows: list[tuple[str, dict[str, str], float, str]] = []
            for d, device in enumerate(devices):
                labels = {"asset": asset, "device": device}
                rows.append(("rx_total", labels, float(step * rng.choice([0, 1, 50]) * (d + 1)), "counter"))
                if device.startswith("eth") and rng.random() < 0.7:
                    rows.append(("speed", labels | ({"kind": "x"} if host == 5 else {}), 1000.0, "gauge"))
                rows.append(("avail", labels, rng.choice([100.0, 100.0 - step, 50.0 - 9 * step]), "gauge"))
                rows.append(("readonly", labels, float(rng.random() < 0.2), "gauge"))
            rows.append(("up", {"asset": asset}, float(rng.random() < 0.8), "gauge"))
            rows.append(("site_info", {"asset": asset, "site": f"s{host % 2}"}, 1.0, "gauge"))
            history.ingest((asset, "c"), rows, t, replace=True)
    return history


def _values(value: object) -> object:
    if isinstance(value, float):
        return value
    assert isinstance(value, list)
    return sorted((e.name or "", sorted(e.labels.items()), round(e.value, 9)) for e in value)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("text", EXPRESSIONS)
def test_pruned_results_equal_unpruned_ones(text: str, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    history = _history(seed)
    expr = parse(text)
    t = 1000.0 + 60 * 11 + 20
    pruned = Evaluator(history)
    expected_value = pruned.evaluate(expr, t)
    monkeypatch.setattr(promql_engine, "_prunable", lambda _node: False)
    plain = Evaluator(history)
    assert _values(expected_value) == _values(plain.evaluate(expr, t))
    assert pruned.stats.samples <= plain.stats.samples


def test_only_matched_series_are_read() -> None:
    history = SeriesHistory()
    for step in range(6):
        rows = [("rx_total", {"asset": "h", "device": f"veth{i}"}, float(step * 10), "counter") for i in range(20)]
        rows += [("rx_total", {"asset": "h", "device": "eth0"}, float(step * 1000), "counter")]
        rows += [("speed", {"asset": "h", "device": "eth0"}, 1000.0, "gauge")]
        history.ingest(("h", "c"), rows, 1000.0 + 60 * step, replace=True)
    evaluator = Evaluator(history)
    result = evaluator.evaluate(parse("rate(rx_total[5m]) / speed"), 1000.0 + 60 * 5)
    assert [e.labels["device"] for e in result] == ["eth0"]  # type: ignore[union-attr]
    assert evaluator.stats.samples == 5 + 1  # eth0's window and its speed, not 21 windows


def test_a_moving_series_without_a_match_does_not_stop_the_memo() -> None:
    """An asset whose only changing counters are on interfaces without a speed (lo) keeps its cached
    result between polls: those rates are not computed, so they cannot move with the clock."""
    history = SeriesHistory()
    for step in range(6):
        rows = [("rx_total", {"asset": "h", "device": "lo"}, float(step * 1000), "counter")]
        rows += [("rx_total", {"asset": "h", "device": "eth0"}, 5.0, "counter")]
        rows += [("speed", {"asset": "h", "device": "eth0"}, 1000.0, "gauge")]
        history.ingest(("h", "c"), rows, 1000.0 + 60 * step, replace=True)
    memo = AssetMemo(parse("rate(rx_total[5m]) / speed > 0.9"))
    evaluator = Evaluator(history)
    t = 1000.0 + 60 * 5 + 1
    assert memo.evaluate(evaluator, t) == []
    memo.evaluate(evaluator, t + 15)
    assert memo.evaluated == 1  # the second tick reused the first's result


def test_a_duplicate_on_the_left_still_fails() -> None:
    history = SeriesHistory()
    for step in range(3):
        rows = [("rx_total", {"asset": "h", "device": "eth0", "n": str(i)}, float(step), "counter") for i in (1, 2)]
        rows += [("speed", {"asset": "h", "device": "eth0"}, 1000.0, "gauge")]
        history.ingest(("h", "c"), rows, 1000.0 + 60 * step, replace=True)
    with pytest.raises(EvalError, match="duplicate"):
        Evaluator(history).evaluate(parse("rate(rx_total[5m]) / ignoring(n) speed"), 1000.0 + 120)
