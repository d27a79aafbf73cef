"""A rule over every shard (`opsagent_scope: cluster`): two agents each see 6 targets down; the
cluster rule `count(up == 0) > 10` fires once, on the leader, from both agents' samples in the store —
where each shard alone (6) would never fire it. Real PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.cluster.config import ClusterConfig
from opsagent.cluster.node import ClusterNode
from opsagent.cluster.wide import ClusterRules
from opsagent.errors import ConfigError
from opsagent.incidents import repo
from opsagent.incidents.model import ACTIVE
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store

pytestmark = pytest.mark.peer

RULE = {
    "alert": "ManyTargetsDown",
    "expr": "count(up == 0) > 10",
    "annotations": {"opsagent_scope": "cluster"},
}


def _rules(rule: dict[str, Any]) -> Any:
    doc = {"groups": [{"name": "g", "rules": [rule]}]}
    return compile_document(parse_yaml_text(yaml.safe_dump(doc), "cluster.rules.yaml"))


@pytest.fixture
def store(pg_empty_url: str) -> Any:
    s = Store(pg_empty_url)
    yield s
    s.close()


async def test_a_cluster_rule_sees_every_shard(store: Store) -> None:
    rules = _rules(RULE)
    config = NotifyConfig.model_validate({"flapping": {"enabled": False}})
    members = []
    for k, name in enumerate(("a1", "a2")):
        node = ClusterNode(store, ClusterConfig(enabled=True, id=name, heartbeat=1, lease=30), "127.0.0.1:0", list)
        node.apply(node.refresh())
        history = SeriesHistory(retention=3600)
        history.ingest(
            "poll", [("up", {"asset": f"h{k}-{i}"}, 0.0, "gauge") for i in range(6)], time.time(), replace=True
        )
        shard = AlertEngine(store, history, rules, config)
        shard.skip_cluster_rules = True
        members.append((node, shard, ClusterRules(shard, node, rules)))
    for node, _shard, _wide in members:
        node.apply(node.refresh())  # both see both
    for _node, shard, wide in members:
        assert (await shard.tick()).opened == []  # a shard alone never evaluates it
        wide.publish()
        assert wide.published == 6  # the cost: one row per selected series per interval
    leaders = [(node, wide) for node, _s, wide in members if node.is_leader()]
    assert len(leaders) == 1
    _leader, wide = leaders[0]
    result = await wide.engine.tick(wide.gather())
    assert wide.gathered == 12
    assert len(result.opened) == 1
    assert [i["alertname"] for i in repo.list_incidents(store, ACTIVE, None, 10)] == ["ManyTargetsDown"]


def test_a_cluster_rule_takes_no_range_selector() -> None:
    with pytest.raises(ConfigError, match="no range selectors"):
        _rules(RULE | {"expr": "sum(rate(x[5m])) > 1"})
    with pytest.raises(ConfigError, match="'shard' or 'cluster'"):
        _rules(RULE | {"annotations": {"opsagent_scope": "everywhere"}})
