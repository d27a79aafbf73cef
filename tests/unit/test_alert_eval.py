"""Pure evaluator tests on synthetic series: PromQL subset, for, hysteresis, flapping, counter resets."""

from __future__ import annotations

import pytest

from opsagent.alerts.notifyconfig import FlappingConfig
from opsagent.alerts.promql import Evaluator, PromQLError, parse
from opsagent.alerts.rulefile import compile_document
from opsagent.alerts.state import FIRING, RuleState, step
from opsagent.errors import ConfigError
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory


def history(points: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]]) -> SeriesHistory:
    h = SeriesHistory(retention=1e9)
    for (name, labels), series in points.items():
        for t, v in series:
            h.ingest(("p", name, labels), [(name, dict(labels), v, "gauge")], t, replace=False)
    return h


def values(h: SeriesHistory, expr: str, t: float) -> dict[tuple[tuple[str, str], ...], float]:
    out = Evaluator(h).evaluate(parse(expr), t)
    assert isinstance(out, list)
    return {tuple(sorted(e.labels.items())): e.value for e in out}


A = (("asset", "a"),)
B = (("asset", "b"),)


def test_rate_handles_counter_reset() -> None:
    # 10/s, then the process restarts (counter back to 5) and continues at 10/s
    pts = [(t, 10.0 * t) for t in range(0, 60, 10)] + [(60, 5.0), (70, 105.0), (80, 205.0)]
    h = history({("c_total", A): pts})
    rate = values(h, "rate(c_total[80s])", 80)[A]
    assert rate == pytest.approx(10.0, rel=0.15)
    inc = values(h, "increase(c_total[80s])", 80)[A]
    assert inc > 600  # without reset handling it would be 205 - 100
    assert values(h, "irate(c_total[30s])", 80)[A] == pytest.approx(10.0)
    assert values(h, "resets(c_total[80s])", 80)[A] == 1


def test_vector_matching_and_aggregation() -> None:
    h = history(
        {
            ("avail", A): [(100, 5.0)],
            ("size", A): [(100, 100.0)],
            ("avail", B): [(100, 50.0)],
            ("size", B): [(100, 100.0)],
            ("cpu", (("asset", "a"), ("cpu", "0"))): [(100, 1.0)],
            ("cpu", (("asset", "a"), ("cpu", "1"))): [(100, 1.0)],
            ("load", A): [(100, 6.0)],
        }
    )
    assert values(h, "avail / size * 100 < 10", 100) == {A: 5.0}
    assert values(h, "load / on(asset) count by (asset) (cpu) > 2", 100) == {A: 3.0}
    assert values(h, "sum(avail)", 100) == {(): 55.0}
    assert values(h, "max by (asset) (avail) unless on(asset) load", 100) == {B: 50.0}
    assert values(h, 'absent(nothing{job="x"})', 100) == {(("job", "x"),): 1.0}
    assert values(h, "absent(avail)", 100) == {}
    assert values(h, "avg_over_time(avail[1m])", 100) == {A: 5.0, B: 50.0}
    assert values(h, 'avail{asset=~"a|c"} - ignoring(asset) group_left vector(1)', 100) == {A: 4.0}


def test_staleness_and_lookback() -> None:
    h = SeriesHistory()
    h.ingest("batch", [("m", {"asset": "a"}, 1.0, "gauge"), ("m", {"asset": "b"}, 1.0, "gauge")], 100, replace=True)
    h.ingest("batch", [("m", {"asset": "a"}, 1.0, "gauge")], 110, replace=True)
    assert set(values(h, "m", 110)) == {A}  # b vanished from its producer's batch: stale at once
    assert values(h, "m", 110 + 301) == {}  # beyond the 5 m lookback


@pytest.mark.parametrize(
    "expr",
    [
        "histogram_quantile(0.9, x)",
        "rate(x[5m:1m])",
        "x @ 100",
        "rate(x)",
        'label_replace(x, "a", "b", "c", "d")',
        "1 > 2",
    ],
)
def test_unsupported_promql_is_a_load_error(expr: str) -> None:
    with pytest.raises(PromQLError):
        parse(expr)


def test_rule_file_errors_carry_line() -> None:
    text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: histogram_quantile(0.9, x) > 1\n"
    with pytest.raises(ConfigError) as info:
        compile_document(parse_yaml_text(text, "bad.rules.yaml"))
    assert "bad.rules.yaml:5" in str(info.value) and "histogram_quantile" in str(info.value)


def rule(extra: str = "", for_: str = "30s") -> object:
    text = (
        "groups:\n  - name: g\n    rules:\n      - alert: Hot\n        expr: temp > 90\n"
        f"        for: {for_}\n        labels: {{severity: warning}}\n"
        "        annotations:\n          summary: 'temp {{ $value | printf \"%.0f\" }}'\n" + extra
    )
    return compile_document(parse_yaml_text(text, "r.yaml"))[0]


def run(r: object, temps: list[float], cfg: FlappingConfig | None = None) -> tuple[RuleState, list[list[str]]]:
    rs, kinds = RuleState(), []
    h = SeriesHistory(retention=1e9)
    for i, temp in enumerate(temps):
        t = 1000.0 + 10 * i
        h.ingest("p", [("temp", {"asset": "a"}, temp, "gauge")], t, replace=True)
        ev = Evaluator(h)
        result = ev.evaluate(r.expr, t)  # type: ignore[attr-defined]
        recovery = ev.evaluate(r.recover, t) if r.recover is not None else None  # type: ignore[attr-defined]
        kinds.append([tr.kind for tr in step(r, rs, result, t, cfg or FlappingConfig(enabled=False), recovery, 10)])  # type: ignore[arg-type]
    return rs, kinds


def test_pending_then_firing_after_for() -> None:
    _rs, kinds = run(rule(), [95, 95, 95, 95, 80])
    assert kinds == [[], [], [], ["fired"], ["resolved"]]  # for 30 s at 10 s steps
    _, kinds = run(rule(), [95, 80, 95, 80, 95])
    assert all(k == [] for k in kinds)  # never held for 30 s: never fires


def test_hysteresis_recovery_expression() -> None:
    r = rule("          opsagent_recover_expr: temp < 80\n", for_="0s")
    _, kinds = run(r, [95, 89, 91, 85, 79])
    assert kinds == [["fired"], [], [], [], ["resolved"]]  # 89/91/85 oscillate around 90: no flap


def test_flap_detection_holds_the_alert() -> None:
    cfg = FlappingConfig(window=10, high_threshold=50, low_threshold=25)
    rs, kinds = run(rule(for_="0s"), [95, 80] * 6 + [95] * 12, cfg)
    flat = [k for ks in kinds for k in ks]
    assert "flapping_started" in flat and "flapping_stopped" in flat
    fired_before_flap = flat[: flat.index("flapping_started")].count("fired")
    assert fired_before_flap <= 4  # the storm is cut short
    after = flat[flat.index("flapping_started") :]
    assert "resolved" not in after  # held firing while flapping
    assert next(iter(rs.alerts.values())).state == FIRING


def test_template_rendering() -> None:
    from opsagent.alerts.template import Template, TemplateError

    t = Template('{{ $labels.asset }} at {{ $value | printf "%.1f" }}% ({{ .Value | humanize }})')
    assert t.render({"asset": "db1"}, 12345.678) == "db1 at 12345.7% (12.35k)"
    with pytest.raises(TemplateError):
        Template("{{ range $x }}")
