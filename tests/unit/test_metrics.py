from __future__ import annotations

from typing import Any

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


def test_down_reason_is_the_reason_that_began_the_outage() -> None:
    """opsagent_down_reason{reason} (TargetDown reads it) keeps the first failure's reason for the
    whole outage (one alert identity), in /metrics and in the history the rules read; a success clears it."""
    reg = MetricsRegistry()
    labels = {"asset": "db", "collector": "postgres"}

    def down() -> list[tuple[str, dict[str, str], float]]:
        return _families(Exposition(reg, process=False).render(None)[0].decode()).get("opsagent_down_reason", [])

    def in_history(t: float) -> list[dict[str, str]]:
        return [dict(s.labels) for s in reg.history.select("opsagent_down_reason") if s.instant(t) is not None]

    reg.record(CollectResult(asset="db", collector="postgres"), now=1000.0)
    assert down() == [] and in_history(1000.0) == []
    reg.record(CollectResult.failure("db", "postgres", Outcome.FAILED, "too_many_connections", "x"), now=1010.0)
    reg.record(CollectResult.failure("db", "postgres", Outcome.TIMEOUT, "timeout", "x"), now=1020.0)
    assert down() == [("opsagent_down_reason", labels | {"reason": "too_many_connections"}, 1.0)]
    assert in_history(1020.0) == [labels | {"reason": "too_many_connections"}]
    reg.record(CollectResult(asset="db", collector="postgres"), now=1030.0)
    assert down() == [] and in_history(1030.0) == []


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


def _batch(load: float, rx: float, *, eth1: bool = True) -> list[Sample]:
    out = [
        Sample.of("node_load1", load),
        Sample.of("node_network_receive_bytes_total", rx, "counter", device="eth0"),
    ]
    if eth1:
        out.append(Sample.of("node_network_receive_bytes_total", rx * 2, "counter", device="eth1"))
    return out


def test_repeated_layout_renders_new_values_and_feeds_history() -> None:
    """Polls with the same series (the common case, served from the cached layout) still render
    every new value, special values included, and append one history point per series."""
    reg = MetricsRegistry()
    for t, (load, rx) in enumerate([(0.5, 10.0), (0.7, 20.0), (float("nan"), float("inf"))], start=1):
        reg.update("h", "ssh", _batch(load, rx), now=float(t))
    text = Exposition(reg, process=False).render(None)[0].decode()
    assert 'node_load1{asset="h"} NaN\n' in text
    assert 'node_network_receive_bytes_total{device="eth0",asset="h"} +Inf\n' in text
    reg.update("h", "ssh", _batch(0.9, 30.0), now=4.0)
    fams = _families(Exposition(reg, process=False).render(None)[0].decode())
    assert fams["node_load1"] == [("node_load1", {"asset": "h"}, 0.9)]
    assert sorted(v for _, _, v in fams["node_network_receive_bytes"]) == [30.0, 60.0]
    (eth0,) = [s for s in reg.history.select("node_network_receive_bytes_total") if s.labels["device"] == "eth0"]
    assert eth0.ts == [1.0, 2.0, 3.0, 4.0] and eth0.vs[:2] == [10.0, 20.0] and eth0.vs[3] == 30.0


def test_changed_layout_drops_vanished_series_and_marks_them_stale() -> None:
    reg = MetricsRegistry()
    reg.update("h", "ssh", _batch(0.5, 10.0), now=1.0)
    reg.update("h", "ssh", _batch(0.6, 11.0), now=2.0)
    reg.update("h", "ssh", _batch(0.7, 12.0, eth1=False), now=3.0)  # eth1 went away
    fams = _families(Exposition(reg, process=False).render(None)[0].decode())
    assert [lb["device"] for _, lb, _ in fams["node_network_receive_bytes"]] == ["eth0"]
    (eth1,) = [s for s in reg.history.select("node_network_receive_bytes_total") if s.labels["device"] == "eth1"]
    assert eth1.instant(3.0) is None and eth1.instant(2.5) == 22.0
    reg.update("h", "ssh", _batch(0.8, 13.0), now=4.0)  # and came back
    back = [s for s in reg.history.select("node_network_receive_bytes_total") if s.labels["device"] == "eth1"]
    assert [s.instant(4.0) for s in back] == [26.0]
    assert reg.series_count() == 3


def test_history_trim_does_not_strand_cached_layouts() -> None:
    """Trimming drops empty series objects; a cached layout must then find the live ones again."""
    reg = MetricsRegistry()
    reg.history.retention = 10.0
    reg.update("h", "ssh", _batch(0.5, 10.0), now=1.0)
    reg.update("h", "ssh", _batch(0.6, 11.0), now=2.0)
    reg.history.trim(100.0)  # everything older than 90 s goes, series objects included
    reg.update("h", "ssh", _batch(0.7, 12.0), now=101.0)
    (load,) = list(reg.history.select("node_load1"))
    assert load.ts == [101.0] and load.instant(101.0) == 0.7


def test_history_trims_once_a_tenth_of_the_retention_has_passed() -> None:
    """Points past the retention are dropped by the next trim, which runs on a schedule (a tenth
    of the retention) rather than after every round of polls."""
    reg = MetricsRegistry()
    reg.history.retention = 100.0
    for t in range(1, 10):  # 9 s of polls: no trim yet, the first point is still there
        reg.update("h", "ssh", _batch(0.1 * t, 10.0 + t), now=float(t))
    (load,) = list(reg.history.select("node_load1"))
    assert load.ts[0] == 1.0 and len(load.ts) == 9
    reg.update("h", "ssh", _batch(0.9, 20.0), now=150.0)  # >= 10 s later: trimmed to the last 100 s
    assert load.ts == [150.0]


def test_history_trims_early_when_points_pile_up() -> None:
    """A burst of polls far faster than the schedule still trims (memory bound: ~8 points per
    series between trims)."""
    from opsagent.series import SeriesHistory

    h = SeriesHistory(retention=1e6, max_points=3)
    rows = [("m", {"i": str(i)}, 1.0, "gauge") for i in range(10_000)]
    for t in range(1, 9):
        h.ingest("p", rows, float(t), replace=True)
    assert all(len(s.ts) == 8 for s in h.select("m"))  # 80,000 points: not yet
    h.ingest("p", rows, 9.0, replace=True)
    assert all(len(s.ts) == 3 for s in h.select("m"))  # 90,000 > 8 per series: trimmed to max_points


def test_history_batches_keep_every_series_in_time_order() -> None:
    """Steady batches take the fast append; a series fed by two producers, a stale mark and an
    out-of-order batch all still leave ordered points and live series."""
    from opsagent.series import SeriesHistory

    h = SeriesHistory()

    def batch(producer: str, t: float, value: float, extra: bool = False) -> None:
        rows = [("m", {"x": "1"}, value, "gauge"), ("own", {"p": producer}, value, "gauge")]
        rows += [("extra", {"p": producer}, value, "gauge")] if extra else []
        h.batch(producer, tuple((n, tuple(lb.items())) for n, lb, _, _ in rows), lambda: rows, [r[2] for r in rows], t)

    for t in (1.0, 2.0, 3.0):
        batch("a", t, t)
    batch("b", 2.5, 25.0)  # a second producer of m{x="1"}, behind a's last point: replaces it
    for t in (4.0, 5.0):
        batch("a", t, t)
        batch("b", t + 0.5, 10 * t)
    (shared,) = list(h.select("m"))
    assert shared.ts == sorted(shared.ts) and shared.ts[-1] == 5.5 and shared.vs[-1] == 50.0
    (own_a,) = [s for s in h.select("own") if s.labels["p"] == "a"]
    assert own_a.ts == [1.0, 2.0, 3.0, 4.0, 5.0] and own_a.instant(5.0) == 5.0
    batch("a", 6.0, 6.0, extra=True)  # a new layout marks nothing stale that is still there
    batch("a", 7.0, 7.0)  # extra vanished: stale at 7
    (extra,) = list(h.select("extra"))
    assert extra.instant(7.0) is None and extra.instant(6.5) == 6.0
    batch("a", 8.0, 8.0, extra=True)  # back: live again, through whichever append path
    batch("a", 9.0, 9.0, extra=True)
    assert extra.instant(9.0) == 9.0 and extra.ts == [6.0, 8.0, 9.0]
    batch("a", 9.0, 99.0, extra=True)  # the same time again replaces the last point
    assert own_a.ts[-1] == 9.0 and own_a.vs[-1] == 99.0 and len(own_a.ts) == len(set(own_a.ts))


def test_other_producers_own_series_leave_the_fast_append_alone(monkeypatch: Any) -> None:
    """A recording rule's ingest (every evaluation, its own series) between two polls of a device
    must not send the device's next batch down the per-series path (it did: each ingest bumped a
    global epoch, so at fleet scale every poll appended series by series); a series that becomes
    shared still does."""
    from opsagent.series import Series, SeriesHistory

    h = SeriesHistory()
    rows = [("m", {"i": str(i)}, 1.0, "gauge") for i in range(100)]
    signature = tuple(("m", str(i)) for i in range(100))
    calls = []
    real = Series.append
    monkeypatch.setattr(Series, "append", lambda self, t, v: (calls.append(1), real(self, t, v)))
    h.batch("dev", signature, lambda: rows, [1.0] * 100, 1.0)
    h.batch("dev", signature, lambda: rows, [2.0] * 100, 2.0)
    h.ingest(("record", "g", "r"), [("r", {}, 1.0, "gauge")], 2.5, replace=True)
    calls.clear()
    h.batch("dev", signature, lambda: rows, [3.0] * 100, 3.0)
    assert calls == []  # fast path: plain list appends
    h.ingest("other", [("m", {"i": "7"}, 70.0, "gauge")], 3.5, replace=True)  # m{i="7"} is shared now
    h.batch("dev", signature, lambda: rows, [4.0] * 100, 4.0)
    assert len(calls) >= 100  # series by series: it no longer owns every one
    (seven,) = [s for s in h.select("m") if s.labels["i"] == "7"]
    assert seven.ts == [1.0, 2.0, 3.0, 3.5, 4.0] and seven.vs[-2:] == [70.0, 4.0]


def test_revalued_batches_are_known_by_their_series_object() -> None:
    """Batches that carry their series as one shared object (SNMP workers' values-only results) go
    to the exposition and the history as any batch does; a changed series list makes a new layout."""
    from opsagent.collectors.base import Revalued

    def revalued(samples: list[Sample], series: Any) -> Revalued:
        return Revalued(series, [s.value for s in samples])  # lazy: the registry never builds them

    reg = MetricsRegistry()
    first = _batch(0.5, 10.0)
    series = [(s.name, s.labels, s.kind) for s in first]
    reg.update("h", "snmp", revalued(first, series), now=1.0)
    reg.update("h", "snmp", _batch(0.6, 11.0), now=2.0)  # the same series as a plain list
    reg.update("h", "snmp", revalued(_batch(0.7, 12.0), series), now=3.0)
    fams = _families(Exposition(reg, process=False).render(None)[0].decode())
    assert fams["node_load1"] == [("node_load1", {"asset": "h"}, 0.7)]
    assert sorted(v for _, _, v in fams["node_network_receive_bytes"]) == [12.0, 24.0]
    fewer = _batch(0.8, 13.0, eth1=False)
    reg.update("h", "snmp", revalued(fewer, [(s.name, s.labels, s.kind) for s in fewer]), now=4.0)
    fams = _families(Exposition(reg, process=False).render(None)[0].decode())
    assert [lb["device"] for _, lb, _ in fams["node_network_receive_bytes"]] == ["eth0"]
    (eth0,) = [s for s in reg.history.select("node_network_receive_bytes_total") if s.labels["device"] == "eth0"]
    assert eth0.ts == [1.0, 2.0, 3.0, 4.0] and eth0.vs == [10.0, 11.0, 12.0, 13.0]
    (eth1,) = [s for s in reg.history.select("node_network_receive_bytes_total") if s.labels["device"] == "eth1"]
    assert eth1.instant(4.0) is None and eth1.vs == [20.0, 22.0, 24.0]


def test_revalued_samples_are_built_on_first_use() -> None:
    import pickle

    from opsagent.collectors.base import Revalued

    samples = _batch(0.5, 10.0)
    series = [(s.name, s.labels, s.kind) for s in samples]
    lazy = Revalued(series, [s.value for s in samples])
    assert len(lazy) == 3 and lazy == samples and lazy[1] == samples[1] and list(lazy) == samples
    assert Revalued(series, [1.0, 2.0, 3.0]) != samples and samples[0] in Revalued(series, [0.5, 0, 0])
    assert pickle.loads(pickle.dumps(Revalued(series, [s.value for s in samples]))) == samples
    grown = Revalued(series, [s.value for s in samples])
    grown.append(Sample.of("x", 1))
    assert grown == [*samples, Sample.of("x", 1)] and grown.values == [0.5, 10.0, 20.0]


def test_self_metrics_text_is_what_prometheus_client_writes() -> None:
    """The agent's own series are rendered straight to text (at 5,000 targets building a sample
    object per series was most of a scrape); the text is byte for byte prometheus-client's, in
    both formats, with failures, outage reasons, hostile names and cluster labels."""
    from prometheus_client import CollectorRegistry
    from prometheus_client import generate_latest as text_encoder
    from prometheus_client.openmetrics.exposition import generate_latest as om_encoder

    reg = MetricsRegistry()
    reg.record(CollectResult(asset="web-1", collector="ssh", samples=[Sample.of("x", 1)], duration=0.25), 1765000000.5)
    hostile = 'sw"1\\a\nb'
    reg.record(CollectResult.failure(hostile, "snmp", Outcome.TIMEOUT, "timeout", "no answer"), 1765000001.0)
    reg.record(CollectResult.failure(hostile, "snmp", Outcome.FAILED, 'auth"x', "denied"), 1765000061.0)
    reg.skipped("web-1", "ssh")
    reg.record(CollectResult(asset="db", collector="postgres", duration=12345678.9), 1765000002.0)

    class Own:
        def collect(self) -> Any:
            return reg.collect_self()

    for agent in ({}, {"agent": 'node-"a"'}):
        reg.agent_labels = agent
        theirs = CollectorRegistry(auto_describe=False)
        theirs.register(Own())
        assert reg.render_self(False) == text_encoder(theirs).decode()
        assert reg.render_self(True) == om_encoder(theirs).decode().removesuffix("# EOF\n")
