"""Exactly once where it matters, on a real PostgreSQL: an incident opened once per fingerprint by
agents racing to fire it; one notification for an alert two agents' engines both see (a real webhook
receiver); a leader that lost its lease mid-tick writes no escalation the new leader already wrote;
an alert-started runbook claimed by one agent."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.cluster.config import ClusterConfig
from opsagent.cluster.node import ClusterNode, NotLeader
from opsagent.incidents import repo
from opsagent.incidents.model import ACTIVE
from opsagent.incidents.repo import AlertInput
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.sla import service
from opsagent.store import Store, schema
from tests.peers.receivers import WebhookServer
from tests.sla.policies import policy

pytestmark = pytest.mark.peer


@pytest.fixture
def store(pg_empty_url: str) -> Any:
    s = Store(pg_empty_url)
    yield s
    s.close()


def test_racing_agents_open_one_incident_per_fingerprint(store: Store) -> None:
    """Two agents fire the same 25 alerts at the same instant: one incident each, never two."""
    fingerprints = [f"fp{i}" for i in range(25)]
    actions: list[str] = []
    barrier = threading.Barrier(2)

    def agent() -> None:
        for fp in fingerprints:
            barrier.wait(10)
            actions.append(repo.fire(store, AlertInput(fp, "Race", {"alertname": "Race", "asset": fp}))[1])

    threads = [threading.Thread(target=agent) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    t = schema.incidents.c
    with store.engine.connect() as conn:
        open_per_fp = dict(
            conn.execute(select(t.fingerprint, func.count()).where(t.status.in_(ACTIVE)).group_by(t.fingerprint)).all()
        )
    assert open_per_fp == dict.fromkeys(fingerprints, 1)
    assert sorted(actions) == sorted(["opened"] * 25 + ["repeated"] * 25)


def _engine(store: Store, hook: WebhookServer, path: str, agent: str) -> tuple[AlertEngine, SeriesHistory]:
    doc = {"groups": [{"name": "g", "rules": [{"alert": "SiteDown", "expr": "count(up == 0) > 1"}]}]}
    rules = compile_document(parse_yaml_text(yaml.safe_dump(doc), "cluster.rules.yaml"))
    config = NotifyConfig.model_validate(
        {
            "receivers": [{"name": "hook", "webhook": {"url": hook.url(path)}}],
            "routes": [{"receiver": "hook", "group_wait": "0s"}],
            "flapping": {"enabled": False},
        }
    )
    history = SeriesHistory(retention=3600)
    engine = AlertEngine(store, history, rules, config)
    engine.agent = engine.dispatcher.agent = agent
    return engine, history


async def test_alert_seen_by_two_agents_opens_one_incident_and_sends_one_notification(
    store: Store, webhook_server: WebhookServer
) -> None:
    """An aggregate rule (count over several shards) fires on both agents: one incident, one message."""
    path = f"/cluster-{time.time_ns()}"
    engines = [_engine(store, webhook_server, path, agent) for agent in ("a1", "a2")]
    t = time.time()
    for k, (_e, history) in enumerate(engines):  # each agent's shard: two targets down
        rows = [("up", {"asset": f"h{k}{i}"}, 0.0, "gauge") for i in range(2)]
        history.ingest("test", rows, t, replace=True)
    for _round in range(3):  # several ticks each, at the same moments
        results = await asyncio.gather(*(e.tick(t) for e, _h in engines))
        t += 1
    assert sum(len(r.opened) for r in results) == 0  # opened in the first round, repeated since
    incidents = repo.list_incidents(store, ACTIVE, None, 10)
    assert [i["alertname"] for i in incidents] == ["SiteDown"]
    posts = [body for p, body in webhook_server.received if p == path]
    assert len(posts) == 1, posts
    assert sum(e.dispatcher.sent for e, _h in engines) == 1


def _node(store: Store, name: str) -> ClusterNode:
    config = ClusterConfig(enabled=True, id=name, heartbeat=0.3, lease=1.0)
    return ClusterNode(store, config, "127.0.0.1:0", list)


def test_a_leader_that_lost_its_lease_mid_tick_writes_no_escalation(store: Store) -> None:
    old, new = _node(store, "old"), _node(store, "new")
    old.apply(old.refresh())
    new.apply(new.refresh())
    assert old.is_leader() and not new.is_leader()
    labels = {"alertname": "DiskFull", "asset": "db-1", "severity": "critical", "priority": "P1"}
    incident, _ = repo.fire(store, AlertInput("DiskFull", "DiskFull", labels))
    at = repo.get(store, incident)["opened_at"] + timedelta(minutes=61)  # type: ignore[index]
    stale = service.TickState()
    stale.fence = old.fence  # the old leader starts its tick… and freezes past its lease
    time.sleep(1.2)
    new.apply(new.refresh())  # the lease ran out: the other agent takes over
    assert new.is_leader() and not old.is_leader()
    with pytest.raises(NotLeader):  # the old leader wakes up with escalations to write: refused, none written
        service.tick(store, policy(), at, stale)
    fresh = service.TickState()
    fresh.fence = new.fence
    fired = service.tick(store, policy(), at, fresh)  # the new leader records (and sends) them, once
    assert fired
    assert service.tick(store, policy(), at, service.TickState()) == []  # any later tick: already done
    e = schema.incident_events.c
    with store.engine.connect() as conn:
        kinds = conn.execute(select(e.kind, e.message).where(e.incident_id == incident, e.kind == "escalated")).all()
    assert len(kinds) == len(fired)
    assert len({m for _k, m in kinds}) == len(kinds)


def test_an_alert_started_runbook_is_claimed_by_one_agent(store: Store) -> None:
    from opsagent.app import App
    from opsagent.config import AgentConfig
    from opsagent.runbooks.triggers import claim

    app = App(AgentConfig(store=store.url))
    incident, _ = repo.fire(store, AlertInput("Full", "Full", {"alertname": "Full", "asset": "db-1"}))
    won: list[bool] = []
    barrier = threading.Barrier(3)

    def agent(name: str) -> None:
        barrier.wait(10)
        won.append(claim(app, incident, "emergency/disk-full", name))

    threads = [threading.Thread(target=agent, args=(f"a{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    app.close()
    assert sorted(won) == [False, False, True]
