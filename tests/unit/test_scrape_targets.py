"""Per-asset scrapes (``/metrics?target=ASSET``), the generated scrape configuration and the shipped
dashboards' PromQL, without a server: the registry index, the answer codes, promtool on the config
and on every dashboard expression."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from opsagent.cli import cli
from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.content import check_paths
from opsagent.metrics import Exposition, MetricsRegistry
from opsagent.scrape import answer, collectors_of
from opsagent.scrapeconfig import duration, jobs_for, scrape_configs
from tests.dashboard_queries import DASHBOARDS, panel_queries, substitute, variable_selectors
from tests.peers.prometheus import run_promtool

OM = "application/openmetrics-text; version=1.0.0"
DASHBOARD_FILES = ["node.json", "snmp-interfaces.json", "postgres.json"]
VALUES = {"job": "node", "node": "web01", "nodename": "web01", "instance": "web01", "interface": ".+", "datname": ".+"}


def _registry() -> MetricsRegistry:
    reg = MetricsRegistry()
    reg.update(
        "web01",
        "ssh",
        [Sample.of("node_load1", 0.5), Sample.of("node_cpu_seconds_total", 9, "counter", cpu="0", mode="idle")],
    )
    reg.update("web01", "snmp", [Sample.of("ifHCInOctets", 7, "counter", ifIndex="1", ifName="eth0")])
    reg.update("web02", "ssh", [Sample.of("node_load1", 2.0)])
    return reg


def _names(body: bytes) -> dict[str, list[dict[str, str]]]:
    return {f.name: [s.labels for s in f.samples] for f in text_string_to_metric_families(body.decode())}


def test_a_target_scrape_holds_only_that_asset_and_collector() -> None:
    expo = Exposition(_registry(), process=False)
    res = answer(expo, {"target": "web01"}, ["ssh"], None)
    assert res.status == 200
    fams = _names(res.body)
    assert set(fams) == {"node_load1", "node_cpu_seconds"}  # no snmp series, no web02, no agent health
    assert fams["node_load1"] == [{"asset": "web01"}]
    both = _names(answer(expo, {"target": "web01"}, ["ssh,snmp"], None).body)
    assert set(both) == {"node_load1", "node_cpu_seconds", "ifHCInOctets"}
    assert set(_names(answer(expo, {"target": "web01"}, [], None).body)) == set(both)
    om = answer(expo, {"target": "web01"}, ["snmp"], OM)
    assert om.content_type.startswith("application/openmetrics-text") and om.body.decode().endswith("# EOF\n")
    assert "# TYPE ifHCInOctets counter" in om.body.decode()


def test_plain_metrics_keep_everything_and_scope_agent_only_the_agent() -> None:
    expo = Exposition(_registry(), process=False)
    everything = _names(answer(expo, {}, [], None).body)
    assert {"node_load1", "ifHCInOctets", "opsagent_series"} <= set(everything)
    agent = _names(answer(expo, {"scope": "agent"}, [], None).body)
    assert "opsagent_series" in agent and "node_load1" not in agent and "ifHCInOctets" not in agent


@pytest.mark.parametrize(
    ("query", "collectors", "status"),
    [
        ({"target": "nosuch"}, [], 404),
        ({"target": "web02"}, ["snmp"], 404),
        ({"target": ""}, [], 400),
        ({"scope": "everything"}, [], 400),
        ({}, ["ssh"], 400),
        ({"target": "web01", "scope": "agent"}, [], 400),
        ({"target": "<script>" * 100}, [], 404),
    ],
)
def test_bad_or_unknown_targets_are_clean_errors(query: dict[str, str], collectors: list[str], status: int) -> None:
    res = answer(Exposition(_registry(), process=False), query, collectors, None)
    assert res.status == status and res.content_type.startswith("text/plain")
    assert len(res.body) < 400  # a hostile name is cut short, never echoed whole


def test_a_target_whose_last_poll_failed_answers_503_with_the_reason() -> None:
    reg = _registry()
    failed = CollectResult(asset="web02", collector="ssh", outcome=Outcome.UNREACHABLE, reason="timeout", duration=1)
    reg.record(failed, 100.0)
    res = answer(Exposition(reg, process=False), {"target": "web02"}, ["ssh"], None)
    assert res.status == 503 and b"ssh: timeout" in res.body
    reg.record(CollectResult(asset="web02", collector="ssh", samples=[Sample.of("node_load1", 1)]), 101.0)
    assert answer(Exposition(reg, process=False), {"target": "web02"}, ["ssh"], None).status == 200


def test_a_failed_device_poll_fails_the_scrape_but_a_database_reports_pg_up_0() -> None:
    """As snmp_exporter (an unreachable device is a failed scrape) and postgres_exporter (a down
    database is ``pg_up 0`` in a successful scrape)."""
    reg = MetricsRegistry()
    duration = [Sample.of("snmp_scrape_duration_seconds", 0.5)]
    reg.record(CollectResult("sw1", "snmp", Outcome.TIMEOUT, reason="timeout", samples=duration), 1.0)
    reg.record(CollectResult("pg1", "postgres", Outcome.FAILED, reason="refused", samples=[Sample.of("pg_up", 0)]), 1.0)
    expo = Exposition(reg, process=False)
    sw = answer(expo, {"target": "sw1"}, ["snmp"], None)
    assert sw.status == 503 and b"snmp: timeout" in sw.body
    pg = answer(expo, {"target": "pg1"}, ["postgres"], None)
    assert pg.status == 200 and _names(pg.body) == {"pg_up": [{"asset": "pg1"}]}


def test_forgetting_an_asset_drops_it_from_the_index() -> None:
    reg = _registry()
    reg.forget("web01", "snmp")
    assert reg.target_batches("web01") == {"ssh": 2}
    reg.forget("web01")
    assert reg.target_batches("web01") is None
    assert reg.render_target("web01", None, False) == ""


def test_collectors_parameter_forms() -> None:
    assert collectors_of([]) is None
    assert collectors_of(["ssh, local", "snmp", ""]) == {"ssh", "local", "snmp"}


def test_durations_in_prometheus_form() -> None:
    assert [duration(s) for s in (1, 15, 60, 90, 3600, 0.5)] == ["1s", "15s", "1m", "1m30s", "1h", "500ms"]


def _generated(tmp_path: Path, **kw: object) -> list[dict[str, object]]:
    jobs = jobs_for(
        [("web01", "ssh", 60.0), ("localhost", "local", 15.0), ("sw1", "snmp", 60.0), ("pg1", "postgres", 30.0)]
    )
    return scrape_configs(jobs, "10.0.0.5:9810", **kw)  # type: ignore[arg-type]


def test_jobs_per_collector_kind_with_the_multi_target_relabelling(tmp_path: Path) -> None:
    configs = {c["job_name"]: c for c in _generated(tmp_path)}
    assert list(configs) == ["opsagent", "node", "postgres", "snmp"]
    node = configs["node"]
    assert node["params"] == {"collector": ["local", "ssh"]}
    assert node["static_configs"] == [{"targets": ["localhost", "web01"]}]
    assert node["scrape_interval"] == "15s" and node["scrape_timeout"] == "10s"
    assert node["relabel_configs"][-1] == {"target_label": "__address__", "replacement": "10.0.0.5:9810"}
    assert configs["opsagent"]["params"] == {"scope": ["agent"]}


@pytest.mark.parametrize("file_sd", [False, True])
def test_promtool_accepts_the_generated_config(tmp_path: Path, file_sd: bool) -> None:
    files = {j: str(tmp_path / f"opsagent-{j}.json") for j in ("node", "postgres", "snmp")} if file_sd else None
    for path in (files or {}).values():
        Path(path).write_text(json.dumps([{"targets": ["x"], "labels": {}}]))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": _generated(tmp_path, file_sd=files, interval=None)}))
    code, output = run_promtool(["check", "config", str(config)])
    assert code == 0, output


def test_cli_prints_a_config_and_writes_file_sd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        yaml.safe_dump(
            {
                "assets": [
                    {"name": "web01", "address": "10.0.0.1", "collectors": [{"name": "ssh", "interval": "30s"}]},
                    {"name": "sw1", "kind": "network", "address": "10.0.0.2", "collectors": [{"name": "snmp"}]},
                ]
            }
        )
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["inventory", "import", str(inv)]).exit_code == 0
    res = runner.invoke(cli, ["prometheus", "scrape-config", "--agent", "agent1:9810"])
    assert res.exit_code == 0, res.output
    jobs = {c["job_name"]: c for c in yaml.safe_load(res.output)["scrape_configs"]}
    # the seeded localhost (local collector, 15 s) is a node too: the job scrapes at its shortest poll interval
    assert jobs["node"]["static_configs"] == [{"targets": ["localhost", "web01"]}]
    assert jobs["node"]["scrape_interval"] == "15s"
    assert jobs["snmp"]["static_configs"] == [{"targets": ["sw1"]}]
    sd = tmp_path / "sd"
    res = runner.invoke(cli, ["prometheus", "scrape-config", "--file-sd", str(sd), "-o", "json", "web01"])
    assert res.exit_code == 0, res.output
    jobs = {c["job_name"]: c for c in json.loads(res.output)["scrape_configs"]}
    assert set(jobs) == {"opsagent", "node"} and jobs["node"]["scrape_interval"] == "30s"
    assert jobs["node"]["file_sd_configs"] == [{"files": [str(sd.resolve() / "opsagent-node.json")]}]
    assert json.loads((sd / "opsagent-node.json").read_text()) == [{"targets": ["web01"], "labels": {}}]
    assert runner.invoke(cli, ["prometheus", "scrape-config", "--agent", "nope"]).exit_code == 2
    assert runner.invoke(cli, ["prometheus", "scrape-config", "--interval", "soon"]).exit_code == 2
    assert runner.invoke(cli, ["prometheus", "scrape-config", "nosuchgroup"]).exit_code == 2


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    """promtool parses each expression of each panel and variable (as a recording rule)."""
    queries = [q for name in DASHBOARD_FILES for q in [*panel_queries(name), *variable_selectors(name)]]
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == sorted(DASHBOARD_FILES)
    assert len(queries) > 60
    rules = [{"record": f"dashboard:query_{i}", "expr": substitute(q.expr, VALUES)} for i, q in enumerate(queries)]
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    code, output = run_promtool(["check", "rules", str(path)])
    assert code == 0, output


def test_opsagent_check_validates_dashboards(tmp_path: Path) -> None:
    count, issues = check_paths([DASHBOARDS], {})
    assert count == len(DASHBOARD_FILES) and issues == []
    bad = tmp_path / "dashboards"
    bad.mkdir()
    (bad / "broken.json").write_text('{\n  "panels": [,]\n}\n')
    (bad / "empty-expr.json").write_text('{"panels": [{"title": "Load", "targets": [{"expr": " "}]}]}')
    (bad / "not-a-dashboard.json").write_text("[1, 2]")
    (bad / "notes.txt").write_text("not content")
    count, issues = check_paths([bad], {})
    assert count == 3
    assert sorted(str(i) for i in issues) == [
        f"{bad}/broken.json:2: invalid JSON: Expecting value",
        f"{bad}/empty-expr.json:1: panels[0].targets[0].expr: must be a non-empty PromQL string",
        f"{bad}/not-a-dashboard.json:1: panels: a Grafana dashboard is an object with a panels list",
    ]
