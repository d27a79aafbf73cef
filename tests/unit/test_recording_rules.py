"""Recording rules are evaluated in group order: their series are read by the rules after them (an
alert over a recorded series fires) and exposed with the engine's metrics."""

from __future__ import annotations

from pathlib import Path

import yaml

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document, load_rules
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url

RULES = {
    "groups": [
        {
            "name": "load",
            "rules": [
                {"record": "asset:node_load1:avg5m", "expr": "avg_over_time(node_load1[5m])", "labels": {"src": "r"}},
                {"record": "fleet:node_load1:max", "expr": "max(asset:node_load1:avg5m)"},
                {"alert": "FleetBusy", "expr": "fleet:node_load1:max > 2"},
                {"alert": "AssetBusy", "expr": 'asset:node_load1:avg5m{src="r"} > 2', "labels": {"sev": "x"}},
            ],
        }
    ]
}


def test_alert_over_recorded_series_fires(tmp_path: Path) -> None:
    rules = compile_document(parse_yaml_text(yaml.safe_dump(RULES), "r.rules.yaml"))
    assert [r.record for r in rules] == [True, True, False, False]
    store = Store(sqlite_url(tmp_path / "s.db"))
    history = SeriesHistory(retention=3600)
    engine = AlertEngine(store, history, rules, NotifyConfig())
    try:
        for i, load in enumerate([1.0, 3.0, 5.0]):
            rows = [("node_load1", {"asset": "web1"}, load, "gauge"), ("node_load1", {"asset": "db1"}, 0.5, "gauge")]
            history.ingest("poll", rows, 1000.0 + 15 * i, replace=True)
        transitions = engine.evaluate(1030.0)
        fired = sorted((tr.alert.labels["alertname"], tr.alert.labels.get("asset", "")) for tr in transitions)
        assert fired == [("AssetBusy", "web1"), ("FleetBusy", "")]  # web1 averages 3, db1 0.5
        assert [a.labels for _r, a in engine.active_alerts() if a.rule == "AssetBusy"] == [
            {"asset": "web1", "src": "r", "sev": "x", "alertname": "AssetBusy"}
        ]
        families = {m.name: m for m in engine.collect()}
        samples = {tuple(sorted(s.labels.items())): s.value for s in families["asset:node_load1:avg5m"].samples}
        assert samples == {(("asset", "db1"), ("src", "r")): 0.5, (("asset", "web1"), ("src", "r")): 3.0}
        assert [s.value for s in families["fleet:node_load1:max"].samples] == [3.0]
    finally:
        store.close()


def test_alert_rules_listing_keeps_to_alerting_rules(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "r.rules.yaml").write_text(yaml.safe_dump(RULES))
    assert [r.name for r in load_rules([tmp_path])] == ["FleetBusy", "AssetBusy"]
    assert len(load_rules([tmp_path], recording=True)) == 4
