"""Alert rules over every shard (``opsagent_scope: cluster``), e.g. ``count(up == 0) > 10``.

How: each member publishes, every evaluation interval, the latest value of each series whose name a
cluster rule selects (one DELETE + one INSERT of its own rows in ``cluster_series``); the leader reads
the rows of the live members into a history of its own and evaluates the cluster rules there, with a
second alert engine (its alert states saved under the member id ``cluster``, so a new leader carries
them on). Members skip those rules in their shard engine. Cost: per member and interval, one
transaction of as many rows as it has such series; on the leader, one read of all of them.
Only instant selectors (no ``rate(x[5m])``): a shard's recording rule can feed a cluster rule.
A reload (SIGHUP, ``POST /-/reload``) replaces them on every member: what it publishes and, on the
leader, what it evaluates; a member started without such rules is ready for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.promql.ast import VectorSelector, walk
from opsagent.alerts.rulefile import CompiledRule
from opsagent.cluster.node import ClusterNode
from opsagent.series import SeriesHistory
from opsagent.store import schema

log = logging.getLogger(__name__)
CLUSTER_AGENT = "cluster"


def selected_names(rules: list[CompiledRule]) -> set[str]:
    names: set[str] = set()
    for rule in rules:
        for expr in (rule.expr, rule.recover):
            if expr is not None:
                names |= {n.name for n in walk(expr) if isinstance(n, VectorSelector) and n.name}
    return names


def cluster_rules(rules: list[CompiledRule]) -> list[CompiledRule]:
    return [r for r in rules if r.cluster and not r.record]


class ClusterRules:
    def __init__(self, shard: AlertEngine, node: ClusterNode, rules: list[CompiledRule]) -> None:
        self.shard = shard
        self.node = node
        rules = cluster_rules(rules)
        self.names = selected_names(rules)
        self.history = SeriesHistory(retention=600)
        self.engine = AlertEngine(shard.store, self.history, rules, shard.config)
        self.engine.agent = CLUSTER_AGENT
        self.engine.dispatcher.agent = node.id
        self.engine.dispatcher.style = shard.dispatcher.style
        self.engine.classify = shard.classify
        self.published = 0  # rows written by the last publish (the cost per interval)
        self.gathered = 0

    async def replace_rules(self, rules: list[CompiledRule], config: NotifyConfig) -> None:
        """Reload: publish the series the new cluster rules select; the leader evaluates those rules."""
        rules = cluster_rules(rules)
        await self.engine.replace_rules(rules, config)
        self.names = selected_names(rules)

    def publish(self) -> None:
        if not self.names and not self.published:
            return  # no cluster rule, and none of our rows left in the store
        now = time.time()
        rows: list[dict[str, Any]] = []
        for name in self.names:
            for series in self.shard.history.select(name):
                value = series.instant(now)
                if value is not None:
                    rows.append(
                        {"agent": self.node.id, "name": name, "labels": series.labels, "value": value, "at": now}
                    )
        c = schema.cluster_series.c
        with self.shard.store.transaction() as conn:
            conn.execute(delete(schema.cluster_series).where(c.agent == self.node.id))
            if rows:
                conn.execute(insert(schema.cluster_series), rows)
        self.published = len(rows)

    def gather(self) -> float:
        live = {m.id for m in self.node.view.members}
        c = schema.cluster_series.c
        with self.shard.store.engine.connect() as conn:
            found = conn.execute(select(c.agent, c.name, c.labels, c.value)).all()
        by_agent: dict[str, list[tuple[str, dict[str, str], float, str]]] = defaultdict(list)
        for agent, name, labels, value in found:
            if agent in live:
                by_agent[agent].append((name, dict(labels), value, "gauge"))
        now = time.time()
        for producer in self.history.producers():
            if producer not in by_agent:
                self.history.forget(producer, now)
        for agent, rows in by_agent.items():
            self.history.ingest(agent, rows, now, replace=True)
        self.gathered = len(found)
        return now

    async def run(self, stop: asyncio.Event, leader: Callable[[], bool]) -> None:
        await asyncio.to_thread(self.engine.restore)
        interval = self.shard.config.evaluation.interval
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.publish)
                if leader() and self.engine.rules:
                    await self.engine.tick(await asyncio.to_thread(self.gather))
            except Exception:
                log.exception("cluster-wide rules: tick failed")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                continue


def make_wide(shard: AlertEngine, node: object) -> ClusterRules | None:
    """In ``serve``: a cluster member's cluster-wide rules (None alone). Made even without such rules,
    so that a reload can add them; the shard engine leaves them to it either way."""
    if not isinstance(node, ClusterNode):
        return None
    shard.skip_cluster_rules = True
    return ClusterRules(shard, node, shard.order)


async def run_wide(wide: ClusterRules | None, node: object, stop: asyncio.Event) -> None:
    if wide is not None and isinstance(node, ClusterNode):
        await wide.run(stop, node.is_leader)
