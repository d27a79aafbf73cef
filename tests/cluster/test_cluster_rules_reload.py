"""A cluster-wide rule (`opsagent_scope: cluster`) added by a reload (SIGHUP) of two real `opsagent serve`
agents on one real PostgreSQL: every member publishes the series it selects, the leader evaluates it over
both shards — `count(probe_success == 1) >= 12` holds only for the two shards together — and one
incident opens. A second reload removes it: the members stop publishing its series."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.rig import Agent, Cluster, cluster
from tests.e2e.agent import wait_until

pytestmark = pytest.mark.peer

RULE = {
    "alert": "AllProbesAnswer",
    "expr": "count(probe_success == 1) >= 12",
    "annotations": {"opsagent_scope": "cluster"},
}


def _write_rules(rig: Cluster, rules: list[dict[str, object]]) -> None:
    doc = {"groups": [{"name": "wide", "rules": rules}]}
    (rig.content / "alerts" / "wide.rules.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


def _reload(rig: Cluster, agent: Agent) -> None:
    asked = time.time()
    rig.signal(agent, signal.SIGHUP)

    def reloaded() -> bool:
        at = agent.metric("opsagent_config_last_reload_success_timestamp_seconds")
        return at is not None and at >= asked

    wait_until(reloaded, 60, f"{agent.name} reloaded", agent.log)


def _incidents(rig: Cluster) -> list[dict[str, object]]:
    listed = rig.cli("incident", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    return [i for i in yaml.safe_load(listed.stdout) if i["alertname"] == RULE["alert"]]


def _published_rows(rig: Cluster) -> list[tuple[str, str, float]]:
    """(agent, target, value) of every published row: a failed wait shows which member published what."""
    from sqlalchemy import create_engine, select

    from opsagent.store import schema

    c = schema.cluster_series.c
    engine = create_engine(rig.store)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(c.agent, c.labels, c.value)).all()
    finally:
        engine.dispose()
    return sorted((agent, str(labels.get("asset")), value) for agent, labels, value in found)


def _published(rig: Cluster) -> int:
    return len(_published_rows(rig))


def _wait_published(rig: Cluster, count: int, what: str) -> None:
    try:
        wait_until(lambda: _published(rig) == count, 30, what)
    except AssertionError as exc:
        members = [(m["id"], m["live"], m["targets"]) for m in rig.members()]
        raise AssertionError(f"{exc}\nrows: {_published_rows(rig)}\nmembers: {members}") from exc


def test_reload_adds_and_removes_cluster_rules_on_every_agent(tmp_path: Path, pg_empty_url: str) -> None:
    with cluster(tmp_path, pg_empty_url) as rig:
        notify = {"evaluation": {"interval": "2s"}, "flapping": {"enabled": False}}
        (rig.content / "alerts" / "notifications.yaml").write_text(yaml.safe_dump(notify), encoding="utf-8")
        _write_rules(rig, [{"alert": "Never", "expr": "probe_success > 5"}])  # no cluster rule at start
        names = rig.write_inventory(12)
        for name in ("w1", "w2"):
            rig.start(rig.add(name))

        def split() -> bool:
            live = [m for m in rig.members() if m["live"]]
            return len(live) == 2 and all(m["targets"] > 0 for m in live)  # neither shard alone has 12

        wait_until(split, 90, "two shards")
        since = time.time()
        wait_until(lambda: rig.targets.polled_since(names, since), 60, "every target polled")
        assert _incidents(rig) == [] and _published(rig) == 0

        _write_rules(rig, [RULE])
        for agent in rig.agents:
            _reload(rig, agent)
        wait_until(lambda: _incidents(rig), 90, "the cluster rule firing on the leader after the reload")
        _wait_published(rig, 12, "both members publishing probe_success")
        time.sleep(6)  # several evaluation ticks on both agents
        assert len(_incidents(rig)) == 1

        _write_rules(rig, [])
        for agent in rig.agents:
            _reload(rig, agent)
        _wait_published(rig, 0, "the members' published series gone with the rule")
