"""End to end: `opsagent serve` on the embedded default, scraped by a real Prometheus server."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.agent import Agent, opsagent, start_agent, wait_until
from tests.peers.ports import free_port
from tests.peers.prometheus import StartPrometheus, promtool_check_metrics

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    agent = start_agent(tmp_path_factory.mktemp("home"))
    yield agent
    agent.stop()


def test_metrics_answer_within_seconds_with_node_exporter_names(agent: Agent) -> None:
    body = wait_until(lambda: (b := agent.get("/metrics")[2]) and "node_load1{" in b and b, 20, "node_load1", agent.log)
    fams = {f.name: f for f in text_string_to_metric_families(body)}
    assert fams["node_cpu_seconds"].type == "counter"
    assert {s.labels["asset"] for s in fams["node_load1"].samples} == {"localhost"}
    assert fams["opsagent_up"].samples[0].labels == {"asset": "localhost", "collector": "local"}
    assert fams["opsagent_up"].samples[0].value == 1.0
    assert any(s.labels.get("mountpoint") == "/" for s in fams["node_filesystem_avail_bytes"].samples)


def test_promtool_finds_no_problem_but_node_exporters_own_names(agent: Agent) -> None:
    wait_until(lambda: "node_load1{" in agent.get("/metrics")[2], 20, "node_load1", agent.log)
    code, output = promtool_check_metrics(agent.get("/metrics")[2])
    problems = [line for line in output.splitlines() if line.strip()]
    # node_exporter's own memory names (node_memory_MemAvailable_bytes…) are camelCase, and the
    # Grafana dashboards we stay compatible with query exactly those names: promtool's camelCase
    # lint is the only finding we accept, and only for them.
    unexpected = [p for p in problems if not (p.startswith("node_memory_") and "camelCase" in p)]
    assert unexpected == [], output
    assert code in (0, 3)


def test_prometheus_scrapes_node_load1(agent: Agent, start_prometheus: StartPrometheus) -> None:
    prom = start_prometheus([f"127.0.0.1:{agent.port}"], scrape_interval="1s")
    result = prom.wait_for('node_load1{asset="localhost"}', timeout=45)
    assert result[0]["metric"]["job"] == "opsagent"
    assert float(result[0]["value"][1]) >= 0
    up = prom.wait_for('opsagent_up{asset="localhost",collector="local"} == 1', timeout=30)
    assert up


def test_openmetrics_negotiation(agent: Agent) -> None:
    status, ctype, body = agent.get("/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert status == 200 and ctype.startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")


def test_healthz_and_api(agent: Agent) -> None:
    status, _, body = agent.get("/healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["store"] == "ok"
    status, _, body = agent.get("/api/v1/assets/localhost")
    assert status == 200
    asset = json.loads(body)
    assert asset["name"] == "localhost"
    assert agent.get("/api/v1/assets/nope")[0] == 404


def test_facts_reach_the_store_and_history(agent: Agent) -> None:
    def facts_stored() -> bool:
        out = opsagent("inventory", "show", "localhost", "-o", "json", home=agent.home)
        return out.returncode == 0 and bool(json.loads(out.stdout)["facts"].get("hostname"))

    wait_until(facts_stored, 20, "facts in the store", agent.log)
    out = opsagent("inventory", "history", "localhost", "--key", "kernel.*", "-o", "json", home=agent.home)
    changes = json.loads(out.stdout)
    assert {c["key"] for c in changes} == {"kernel.name", "kernel.release", "kernel.version"}
    assert all(c["change"] == "added" for c in changes)


def test_sigterm_stops_cleanly_within_seconds(agent: Agent) -> None:
    agent.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = agent.proc.wait(timeout=10)
    assert code == 0, agent.log.read_text()[-2000:]
    assert time.monotonic() - started < 10  # seconds, with room for a loaded CI machine
    assert "Traceback" not in agent.log.read_text()


def test_serve_refuses_invalid_content(tmp_path: Path) -> None:
    bad = tmp_path / "content" / "collectors" / "local"
    bad.mkdir(parents=True)
    (bad / "broken.yaml").write_text("options:\n  fs_types_exclud: x\n")
    (tmp_path / "opsagent.yaml").write_text("content_roots: [content]\n")
    out = opsagent("serve", "--listen", f"127.0.0.1:{free_port()}", home=tmp_path)
    assert out.returncode == 2
    assert f"{bad / 'broken.yaml'}:2: options.fs_types_exclud: Extra inputs are not permitted" in out.stderr
