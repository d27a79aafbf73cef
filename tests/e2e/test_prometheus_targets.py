"""A real Prometheus scraping a real `opsagent serve` with the configuration `opsagent prometheus
scrape-config` generates: one job per collector kind, instance = the asset, as dashboards written
for node_exporter, snmp_exporter and postgres_exporter select. The shipped dashboards' queries
return the assets' data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.dashboard_queries import panel_queries, substitute, variable_selectors
from tests.e2e.agent import Agent, opsagent, start_agent, wait_until
from tests.peers.ports import LOCALHOST
from tests.peers.postgres import PostgresServer
from tests.peers.prometheus import PrometheusHandle, StartPrometheus
from tests.peers.snmp import Snmpd, free_udp_port

pytestmark = pytest.mark.peer

# Panels that may rightly be empty on a test machine: a VM's interfaces (and lo) report no speed
# (ifHighSpeed 0), which the utilisation panels leave out rather than divide by. Nothing else.
MAY_BE_EMPTY = {("snmp-interfaces.json", "Utilisation in"), ("snmp-interfaces.json", "Utilisation out")}


@dataclass
class Setup:
    agent: Agent
    prom: PrometheusHandle
    config: list[dict[str, object]]


def _inventory(snmpd: Snmpd, pg: PostgresServer) -> dict[str, object]:
    return {
        "assets": [
            {"name": "web01", "address": LOCALHOST, "collectors": [{"name": "local", "interval": "2s"}]},
            {
                "name": "sw01",
                "kind": "network",
                "address": LOCALHOST,
                "port": snmpd.port,
                "credentials": {"snmp": {"community": "env:OPSAGENT_T_SNMP"}},
                "collectors": [{"name": "snmp", "profile": "default", "interval": "2s"}],
            },
            {
                "name": "db01",
                "kind": "database",
                "address": LOCALHOST,
                "port": pg.port,
                "credentials": {"postgres": {"user": pg.user}},
                "collectors": [{"name": "postgres", "interval": "2s"}],
            },
            {  # nothing answers there: its scrape must fail (up 0), as a dead exporter's does
                "name": "dead01",
                "kind": "network",
                "address": LOCALHOST,
                "port": free_udp_port(),
                "credentials": {"snmp": {"community": "env:OPSAGENT_T_SNMP"}},
                "collectors": [{"name": "snmp", "interval": "2s", "options": {"timeout": "0.5s", "retries": 0}}],
            },
        ]
    }


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
    snmpd_agent: Snmpd,
    postgres_server: PostgresServer,
    start_prometheus: StartPrometheus,
) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPSAGENT_T_SNMP", snmpd_agent.community)
        inv = home / "inventory.yaml"
        inv.write_text(yaml.safe_dump(_inventory(snmpd_agent, postgres_server)))
        imported = opsagent("inventory", "import", str(inv), home=home)
        assert imported.returncode == 0, imported.stderr
        agent = start_agent(home)
        try:
            out = opsagent(
                "prometheus", "scrape-config", "--agent", f"{LOCALHOST}:{agent.port}", "--interval", "1s", "-o", "json",
                home=home,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            config = json.loads(out.stdout)["scrape_configs"]
            prom = start_prometheus([], scrape_configs=config)
            yield Setup(agent, prom, config)
        finally:
            agent.stop()


def test_the_generated_config_has_a_job_per_collector_kind(setup: Setup) -> None:
    jobs = {c["job_name"]: c for c in setup.config}  # type: ignore[index]
    assert set(jobs) == {"opsagent", "node", "snmp", "postgres"}
    assert jobs["node"]["static_configs"] == [{"targets": ["localhost", "web01"]}]  # localhost: the seed
    assert jobs["snmp"]["static_configs"] == [{"targets": ["dead01", "sw01"]}]


def test_node_load1_by_instance_is_the_assets_series(setup: Setup) -> None:
    [series] = setup.prom.wait_for('node_load1{instance="web01"}', timeout=60)
    assert series["metric"] == {"__name__": "node_load1", "instance": "web01", "job": "node", "asset": "web01"}
    assert setup.prom.wait_for('up{job="node",instance="web01"} == 1', timeout=30)
    assert setup.prom.wait_for('up{job="snmp",instance="sw01"} == 1', timeout=30)
    assert setup.prom.wait_for('up{job="postgres",instance="db01"} == 1', timeout=30)
    assert setup.prom.wait_for('up{job="opsagent"} == 1', timeout=30)
    assert setup.prom.wait_for('pg_up{job="postgres",instance="db01"} == 1', timeout=30)
    assert setup.prom.wait_for('ifHCInOctets{job="snmp",instance="sw01"}', timeout=30)


def test_a_dead_asset_is_up_0_and_nothing_is_ingested_twice(setup: Setup) -> None:
    setup.prom.wait_for('node_load1{instance="web01"}', timeout=60)
    assert setup.prom.wait_for('up{job="snmp",instance="dead01"} == 0', timeout=30)
    # every collected series arrives once, from its asset's job; the agent's job has its own only
    assert setup.prom.query('{job="opsagent",__name__=~"node_.+|if.+|pg_.+"}') == []
    assert setup.prom.query("count by (instance) (node_load1) > 1") == []
    assert setup.prom.wait_for('opsagent_up{job="opsagent",asset="web01",collector="local"} == 1', timeout=30)
    # the agent answers the scrape of an asset it does not poll with 404, and bad parameters with 400
    assert setup.agent.get("/metrics?target=nosuch")[0] == 404
    assert setup.agent.get("/metrics?target=web01&collector=snmp")[0] == 404
    assert setup.agent.get("/metrics?scope=bogus")[0] == 400
    # once its first poll has failed (before that it is 404, not polled yet)
    body = wait_until(
        lambda: (r := setup.agent.get("/metrics?target=dead01&collector=snmp"))[0] == 503 and r[2],
        30,
        "a 503 for the dead device",
        setup.agent.log,
    )
    assert "snmp: " in body


def _assert_dashboard_has_data(prom: PrometheusHandle, name: str, values: dict[str, str], ready: str) -> None:
    prom.wait_for(substitute(ready, values), timeout=60)
    empty: list[str] = []
    for query in [*panel_queries(name), *variable_selectors(name)]:
        expr = substitute(query.expr, values)
        result = prom.wait_for(expr, timeout=15) if (name, query.panel) not in MAY_BE_EMPTY else prom.query(expr)
        if not result and (name, query.panel) not in MAY_BE_EMPTY:
            empty.append(f"{query.panel}: {expr}")
    assert empty == []


def test_node_dashboard_queries_return_the_assets_data(setup: Setup) -> None:
    values = {"job": "node", "node": "web01", "nodename": _nodename(setup.prom)}
    # irate() over $__rate_interval needs two scrapes of the counters
    _assert_dashboard_has_data(setup.prom, "node.json", values, 'count_over_time(node_load1{instance="$node"}[1m]) > 3')


def test_snmp_dashboard_queries_return_the_devices_data(setup: Setup) -> None:
    values = {"job": "snmp", "instance": "sw01", "interface": ".+"}
    _assert_dashboard_has_data(
        setup.prom, "snmp-interfaces.json", values, 'count_over_time(ifHCInOctets{instance="$instance"}[1m]) > 3'
    )


def test_postgres_dashboard_queries_return_the_servers_data(setup: Setup) -> None:
    values = {"job": "postgres", "instance": "db01", "datname": ".+"}
    _assert_dashboard_has_data(
        setup.prom, "postgres.json", values, 'count_over_time(pg_up{instance="$instance"}[1m]) > 3'
    )


def _nodename(prom: PrometheusHandle) -> str:
    [info] = prom.wait_for('node_uname_info{job="node",instance="web01"}', timeout=60)
    nodename: str = info["metric"]["nodename"]
    return nodename


def test_dashboards_are_grafana_json_with_the_node_exporter_full_variables() -> None:
    doc = json.loads((Path(__file__).resolve().parents[2] / "dashboards" / "node.json").read_text())
    names = [v["name"] for v in doc["templating"]["list"]]
    assert names == ["datasource", "job", "nodename", "node"]
