from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.metrics import Exposition, MetricsRegistry, sample_line

OM = "application/openmetrics-text; version=1.0.0"


def _families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def test_batches_replace_and_carry_asset_label() -> None:
    reg = MetricsRegistry({"node_load1": "1m load average."})
    reg.update(
        "web01",
        "local",
        [Sample.of("node_load1", 0.5), Sample.of("node_cpu_seconds_total", 10, "counter", cpu="0", mode="idle")],
    )
    reg.update("web01", "local", [Sample.of("node_load1", 0.7)])  # the counter vanished: it must go
    body, ctype = Exposition(reg, process=False).render(None)
    assert ctype.startswith("text/plain; version=0.0.4")
    fams = _families(body.decode())
    assert fams["node_load1"] == [("node_load1", {"asset": "web01"}, 0.7)]
    assert "node_cpu_seconds" not in fams
    assert "# HELP node_load1 1m load average." in body.decode()


def test_counter_headers_in_both_formats() -> None:
    reg = MetricsRegistry()
    reg.update("h", "local", [Sample.of("node_cpu_seconds_total", 1.5, "counter", cpu="0", mode="user")])
    text = Exposition(reg, process=False).render(None)[0].decode()
    assert "# TYPE node_cpu_seconds_total counter" in text
    om, ctype = Exposition(reg, process=False).render(OM)
    assert ctype.startswith("application/openmetrics-text")
    assert "# TYPE node_cpu_seconds counter" in om.decode() and om.decode().endswith("# EOF\n")
    assert om.decode().count("# EOF") == 1
    assert 'node_cpu_seconds_total{cpu="0",mode="user",asset="h"} 1.5' in om.decode()


def test_label_values_are_escaped() -> None:
    line = sample_line("m", {"path": 'C:\\x "q"\nz'}, 1)
    assert line == 'm{path="C:\\\\x \\"q\\"\\nz"} 1.0\n'
    reg = MetricsRegistry()
    reg.update("h", "c", [Sample.of("m", 1, "gauge", path='a"b\\c\nd')])
    fams = _families(Exposition(reg, process=False).render(None)[0].decode())
    assert fams["m"][0][1]["path"] == 'a"b\\c\nd'


def test_special_values() -> None:
    assert sample_line("m", {}, float("inf")) == "m +Inf\n"
    assert sample_line("m", {}, float("-inf")) == "m -Inf\n"
    assert sample_line("m", {}, float("nan")) == "m NaN\n"


def test_self_metrics_up_errors_and_failed_poll_drops_series() -> None:
    reg = MetricsRegistry()
    ok = CollectResult(asset="a", collector="local", samples=[Sample.of("node_load1", 1)], duration=0.2)
    reg.record(ok, now=1000.0)
    reg.record(CollectResult.failure("a", "local", Outcome.TIMEOUT, "timeout", "slow"), now=1010.0)
    reg.record(CollectResult.failure("a", "local", Outcome.TIMEOUT, "timeout", "slow"), now=1020.0)
    reg.skipped("a", "local")
    fams = _families(Exposition(reg, process=False).render(None)[0].decode())
    assert fams["opsagent_up"] == [("opsagent_up", {"asset": "a", "collector": "local"}, 0.0)]
    assert fams["opsagent_collect_errors"] == [
        ("opsagent_collect_errors_total", {"asset": "a", "collector": "local", "reason": "timeout"}, 2.0)
    ]
    assert fams["opsagent_collect_last_success_timestamp_seconds"][0][2] == 1000.0
    assert fams["opsagent_collect_skipped"][0][2] == 1.0
    assert "node_load1" not in fams  # no stale values after a failed poll
    reg.forget("a")
    assert "opsagent_up" not in {
        k for k, v in _families(Exposition(reg, process=False).render(None)[0].decode()).items() if v
    }


def test_custom_collector_protocol_yields_all_families() -> None:
    reg = MetricsRegistry()
    reg.update("a", "local", [Sample.of("node_load1", 1)])
    reg.update("b", "local", [Sample.of("node_load1", 2)])
    names = {m.name: m for m in reg.collect()}
    assert [s.labels["asset"] for s in names["node_load1"].samples] == ["a", "b"]
    assert reg.series_count() == 2


def test_process_metrics_are_namespaced() -> None:
    text = Exposition(MetricsRegistry()).render(None)[0].decode()
    assert "opsagent_process_resident_memory_bytes" in text
