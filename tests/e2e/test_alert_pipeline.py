"""The alert engine's store and notification side, tick by tick, with a real store and a real local
webhook receiver: silences and maintenance windows, parent/dependency suppression, grouping,
repeat_interval and send_resolved, and Alertmanager-originated alerts through the same pipeline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsagent.alerts.alertmanager import PayloadError
from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.alerts.silences import add_silence, expire_silence
from opsagent.incidents import repo
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer

HOST_DOWN = {"alert": "HostDown", "expr": 'up{kind="host"} == 0', "labels": {"severity": "critical"}}
SWITCH_DOWN = {
    "alert": "SwitchDown",
    "expr": 'up{kind="network"} == 0',
    "labels": {"severity": "critical"},
    "annotations": {"summary": "{{ $labels.asset }} is down", "opsagent_suppresses_dependents": "true"},
}


class Rig:
    """An engine over a fresh SQLite store whose notifications go to the session webhook receiver."""

    def __init__(self, tmp_path: Path, hook: WebhookServer, rules: list[dict[str, Any]], routes: list[dict[str, Any]],
                 parents: dict[str, list[str]] | None = None) -> None:  # fmt: skip
        self.hook = hook
        self.path = f"/{tmp_path.name}"
        doc = parse_yaml_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}), "test.rules.yaml")
        self.rules = compile_document(doc)
        receivers = [{"name": "hook", "webhook": {"url": hook.url(self.path)}}]
        receivers.append({"name": "quiet", "webhook": {"url": hook.url(self.path + "/quiet")}})
        self.config = NotifyConfig.model_validate(
            {"receivers": receivers, "routes": routes, "flapping": {"enabled": False}}
        )
        self.store = Store(sqlite_url(tmp_path / "store.db"))
        self.history = SeriesHistory(retention=3600)
        self.parents = parents or {}
        self.engine = self.new_engine()

    def new_engine(self) -> AlertEngine:
        return AlertEngine(self.store, self.history, self.rules, self.config, parents=lambda: self.parents)

    def up(self, values: dict[tuple[str, str], float], t: float) -> None:
        rows = [("up", {"asset": a, "kind": k}, v, "gauge") for (a, k), v in values.items()]
        self.history.ingest("test", rows, t, replace=True)

    async def tick(self, values: dict[tuple[str, str], float]) -> Any:
        t = time.time()
        self.up(values, t)
        return await self.engine.tick(t)

    def posts(self, suffix: str = "") -> list[dict[str, Any]]:
        return [b for p, b in self.hook.received if p == self.path + suffix]

    def incidents(self) -> dict[str, dict[str, Any]]:
        """asset (or alertname when none) → its latest incident."""
        rows = repo.list_incidents(self.store, None, None, 100)
        return {r["asset"] or r["alertname"]: r for r in sorted(rows, key=lambda r: r["id"])}


def alert_assets(body: dict[str, Any], status: str = "firing") -> set[str]:
    return {a["labels"].get("asset", "") for a in body["alerts"] if a["status"] == status}


@pytest.fixture
def rig_factory(tmp_path: Path, webhook_server: WebhookServer) -> Iterator[Any]:
    made: list[Rig] = []

    def make(*args: Any, **kwargs: Any) -> Rig:
        rig = Rig(tmp_path, webhook_server, *args, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.store.close()


ROUTE = {"receiver": "hook", "group_by": ["alertname", "asset"], "group_wait": "0s", "group_interval": "0s"}
DOWN = {("web01", "host"): 0.0, ("web02", "host"): 0.0}


async def test_silence_mutes_and_expiry_restores(rig_factory: Any) -> None:
    rig = rig_factory([HOST_DOWN], [ROUTE])
    now = datetime.now(UTC)
    sid = add_silence(rig.store, ['asset="web01"', "alertname=~Host.*"], now - timedelta(minutes=1),
                      now + timedelta(hours=1), "alice", "CHG-1 reboot web01")  # fmt: skip
    await rig.tick(DOWN)
    await rig.tick(DOWN)
    assert set(rig.incidents()) == {"web02"}  # the silenced alert opened nothing
    assert [alert_assets(b) for b in rig.posts()] == [{"web02"}]
    assert rig.engine._muted  # muted, not forgotten: still an active alert of the rule
    assert len(rig.engine.active_alerts()) == 2

    expire_silence(rig.store, sid, "alice")
    await rig.tick(DOWN)
    assert set(rig.incidents()) == {"web01", "web02"}
    assert [alert_assets(b) for b in rig.posts()][-1] == {"web01"}
    assert rig.incidents()["web02"]["count"] == 1  # no duplicate for the alert that was never muted


async def test_maintenance_window_by_time_range(rig_factory: Any) -> None:
    rig = rig_factory([HOST_DOWN], [ROUTE])
    now = datetime.now(UTC)
    add_silence(rig.store, ['asset="web01"'], now - timedelta(seconds=5), now + timedelta(seconds=3), "bob",
                "kernel upgrade", kind="maintenance")  # fmt: skip
    # a window later tonight mutes nothing now
    add_silence(rig.store, ['asset="web02"'], now + timedelta(hours=2), now + timedelta(hours=3), "bob",
                "db upgrade", kind="maintenance")  # fmt: skip
    await rig.tick(DOWN)
    assert set(rig.incidents()) == {"web02"}
    await asyncio.sleep(3.5)  # the window ends: the alert still firing opens its incident
    await rig.tick(DOWN)
    assert set(rig.incidents()) == {"web01", "web02"}
    assert {"web01"} in [alert_assets(b) for b in rig.posts()]


async def test_parent_down_suppresses_dependents(rig_factory: Any) -> None:
    parents = {"h1": ["sw1"], "h2": ["sw1"], "h4": ["sw2"], "sw2": ["sw1"], "h3": ["sw9"]}
    rig = rig_factory([SWITCH_DOWN, HOST_DOWN], [ROUTE], parents=parents)
    state = {("sw1", "network"): 0.0, ("sw2", "network"): 1.0, ("sw9", "network"): 1.0}
    state |= {(h, "host"): 0.0 for h in ("h1", "h2", "h3", "h4")}
    await rig.tick(state)
    await rig.tick(state)
    incidents = rig.incidents()
    assert set(incidents) == {"sw1", "h3"}  # h1, h2 and h4 (behind sw2 behind sw1) open nothing
    suppressed = incidents["sw1"]["suppressed"]
    assert sorted(suppressed) == ["HostDown on h1", "HostDown on h2", "HostDown on h4"]
    shown = repo.get(rig.store, incidents["sw1"]["id"])
    assert shown is not None and sorted(shown["suppressed"]) == sorted(suppressed)
    notified = set().union(*(alert_assets(b) for b in rig.posts()))
    assert notified == {"sw1", "h3"}

    state[("sw1", "network")] = 1.0  # the switch is back, h1 is still down: now it is its own problem
    state |= {("h2", "host"): 1.0, ("h4", "host"): 1.0}
    await rig.tick(state)
    incidents = rig.incidents()
    assert incidents["sw1"]["status"] == "resolved"
    assert "h1" in incidents and "h2" not in incidents and "h4" not in incidents


async def test_grouping_repeat_interval_and_send_resolved(rig_factory: Any) -> None:
    routes = [
        {"receiver": "hook", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s",
         "repeat_interval": "3s"},
        {"receiver": "quiet", "group_by": ["alertname"], "send_resolved": False, "repeat_interval": "1h"},
    ]  # fmt: skip
    rig = rig_factory([HOST_DOWN], routes)
    three = {(h, "host"): 0.0 for h in ("a", "b", "c")}
    await rig.tick(three)
    assert len(rig.posts()) == 1 and len(rig.posts("/quiet")) == 1
    first = rig.posts()[0]
    assert first["status"] == "firing" and alert_assets(first) == {"a", "b", "c"}  # one message, three alerts
    assert first["groupLabels"] == {"alertname": "HostDown"} and first["commonLabels"]["severity"] == "critical"
    await rig.tick(three)
    assert len(rig.posts()) == 1  # nothing new, repeat_interval not reached

    await asyncio.sleep(3.2)
    await rig.tick(three)
    assert len(rig.posts()) == 2 and alert_assets(rig.posts()[1]) == {"a", "b", "c"}  # the repeat
    assert len(rig.posts("/quiet")) == 1

    await asyncio.sleep(1.1)
    await rig.tick(three | {("a", "host"): 1.0})
    third = rig.posts()[2]
    assert third["status"] == "firing" and alert_assets(third) == {"b", "c"}
    assert alert_assets(third, "resolved") == {"a"}
    assert rig.incidents()["a"]["status"] == "resolved"

    await asyncio.sleep(1.1)
    await rig.tick({(h, "host"): 1.0 for h in ("a", "b", "c")})
    last = rig.posts()[-1]
    assert last["status"] == "resolved" and alert_assets(last, "resolved") == {"b", "c"}
    assert all(a["endsAt"] != "0001-01-01T00:00:00Z" for a in last["alerts"])
    assert len(rig.posts("/quiet")) == 1  # send_resolved: false — no resolution notices there
    # after a restart the dispatcher remembers what it sent: no repeat of anything
    engine = rig.new_engine()
    engine.restore()
    await engine.tick(time.time())
    assert len(rig.posts()) == 4


def am_payload(status: str, asset: str, **annotations: str) -> dict[str, Any]:
    """A webhook body as Alertmanager 0.25 sends it (version 4)."""
    alert = {
        "status": status,
        "labels": {"alertname": "PromHostDown", "asset": asset, "severity": "critical", "job": "node"},
        "annotations": {"summary": f"{asset} down (Prometheus)", **annotations},
        "startsAt": "2026-01-01T00:00:00.000Z",
        "endsAt": "2026-01-01T00:05:00.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "abc",
    }
    common = {"groupLabels": {}, "commonLabels": alert["labels"], "commonAnnotations": {}, "externalURL": "http://am"}
    return {"version": "4", "status": status, "receiver": "opsagent", "groupKey": "{}:{}", "alerts": [alert]} | common


async def test_alertmanager_alerts_share_silences_suppression_routes(rig_factory: Any) -> None:
    route = {"receiver": "hook", "group_by": ["alertname", "asset"], "group_wait": "0s", "group_interval": "0s"}
    rig = rig_factory([SWITCH_DOWN], [route], parents={"h1": ["sw1"]})
    now = datetime.now(UTC)
    sid = add_silence(rig.store, ['asset="db9"'], now - timedelta(minutes=1), now + timedelta(hours=1), "carol",
                      "migration")  # fmt: skip

    res = await rig.engine.receive_alertmanager(am_payload("firing", "web7"))
    assert len(res["opened"]) == 1
    web7 = rig.incidents()["web7"]
    assert web7["source"] == "alertmanager" and web7["title"] == "web7 down (Prometheus)"
    assert alert_assets(rig.posts()[-1]) == {"web7"}  # through opsagent's own routes
    again = await rig.engine.receive_alertmanager(am_payload("firing", "web7"))  # AM repeats it
    assert again["unchanged"] == [web7["id"]] and rig.incidents()["web7"]["count"] == 1
    assert len(rig.posts()) == 1

    muted = await rig.engine.receive_alertmanager(am_payload("firing", "db9"))  # silenced by opsagent
    assert muted["opened"] == [] and muted["muted"][0]["why"] == f"silence #{sid}"
    assert "db9" not in rig.incidents()

    await rig.tick({("sw1", "network"): 0.0})  # opsagent's own rule: the switch is down
    behind = await rig.engine.receive_alertmanager(am_payload("firing", "h1"))
    assert behind["opened"] == [] and "parent sw1" in behind["muted"][0]["why"]
    assert rig.incidents()["sw1"]["suppressed"] == ["PromHostDown on h1"]

    # a restart keeps the received alerts (Alertmanager only repeats them every repeat_interval)
    rig.engine = rig.new_engine()
    assert rig.engine.restore() >= 3
    expire_silence(rig.store, sid, "carol")
    await rig.tick({("sw1", "network"): 0.0})
    assert rig.incidents()["db9"]["status"] == "open"  # the silence expired: the alert opens its incident

    done = await rig.engine.receive_alertmanager(am_payload("resolved", "web7"))
    assert done["resolved"] == [web7["id"]] and rig.incidents()["web7"]["status"] == "resolved"
    resolved_posts = [b for b in rig.posts() if alert_assets(b, "resolved") == {"web7"}]
    assert len(resolved_posts) == 1 and resolved_posts[0]["status"] == "resolved"


async def test_alertmanager_parent_alert_suppresses_own_rule_alerts(rig_factory: Any) -> None:
    rig = rig_factory([HOST_DOWN], [ROUTE], parents={"h5": ["core-sw"]})
    res = await rig.engine.receive_alertmanager(am_payload("firing", "core-sw", opsagent_suppresses_dependents="true"))
    assert len(res["opened"]) == 1
    await rig.tick({("h5", "host"): 0.0, ("h6", "host"): 0.0})
    incidents = rig.incidents()
    assert set(incidents) == {"core-sw", "h6"}
    assert incidents["core-sw"]["suppressed"] == ["HostDown on h5"]
    await rig.engine.receive_alertmanager(am_payload("resolved", "core-sw"))
    await rig.tick({("h5", "host"): 0.0, ("h6", "host"): 0.0})
    assert rig.incidents()["h5"]["status"] == "open"  # the parent is back: h5's own problem now


async def test_webhook_cannot_resolve_an_incident_opened_by_opsagents_own_rule(rig_factory: Any) -> None:
    """The labels of every incident are readable from the API; a webhook post of `resolved` with them
    must not close what opsagent's own rule opened while that rule still fires."""
    rig = rig_factory([HOST_DOWN], [ROUTE])
    await rig.tick(DOWN)
    web01 = rig.incidents()["web01"]
    assert web01["source"] == "rule" and web01["status"] == "open"
    forged = am_payload("resolved", "web01")
    forged["alerts"][0]["labels"] = dict(web01["labels"])
    res = await rig.engine.receive_alertmanager(forged)
    assert res["resolved"] == []
    await rig.tick(DOWN)
    assert rig.incidents()["web01"]["status"] == "open"
    # the rule itself still resolves it
    await rig.tick({("web01", "host"): 1.0, ("web02", "host"): 0.0})
    assert rig.incidents()["web01"]["status"] == "resolved"


async def test_webhook_times_outside_a_sane_range_are_refused(rig_factory: Any) -> None:
    rig = rig_factory([HOST_DOWN], [ROUTE])
    late = am_payload("firing", "web9")
    late["alerts"][0]["startsAt"] = "9999-12-31T23:59:59Z"
    with pytest.raises(PayloadError, match=r"alerts\.0\.startsAt: Value error, must lie between 1970 and"):
        await rig.engine.receive_alertmanager(late)
    assert "web9" not in rig.incidents()


async def test_the_source_that_reopens_an_incident_resolves_it(rig_factory: Any) -> None:
    """A rule's incident, resolved, reopened by Alertmanager's alert with the same labels (within
    reopen_within): Alertmanager's `resolved` closes it again, it does not stay open forever."""
    rig = rig_factory([HOST_DOWN], [ROUTE])
    await rig.tick(DOWN)
    labels = dict(rig.incidents()["web01"]["labels"])
    await rig.tick({("web01", "host"): 1.0, ("web02", "host"): 0.0})
    assert rig.incidents()["web01"]["status"] == "resolved"
    same = am_payload("firing", "web01")
    same["alerts"][0]["labels"] = labels
    res = await rig.engine.receive_alertmanager(same)
    reopened = rig.incidents()["web01"]
    assert res["opened"] == [reopened["id"]] and reopened["status"] == "open"
    assert reopened["source"] == "alertmanager"
    same["alerts"][0]["status"] = "resolved"
    res = await rig.engine.receive_alertmanager(same)
    assert res["resolved"] == [reopened["id"]] and rig.incidents()["web01"]["status"] == "resolved"
