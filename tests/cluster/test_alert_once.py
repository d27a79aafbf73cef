"""Two real agents on one PostgreSQL both see the same firing alert (a rule over their own shards with
no asset label, so both evaluate it to the same fingerprint): one incident, one notification at a real
webhook receiver."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.rig import cluster
from tests.e2e.agent import wait_until
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer


def test_one_alert_two_agents_one_incident_one_notification(
    tmp_path: Path, pg_empty_url: str, webhook_server: WebhookServer
) -> None:
    path = f"/once-{time.time_ns()}"
    with cluster(tmp_path, pg_empty_url) as rig:
        rules = {
            "groups": [{"name": "c", "rules": [{"alert": "ProbesAnswer", "expr": "count(probe_success == 1) > 0"}]}]
        }
        (rig.content / "alerts" / "cluster.rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
        notify = {
            "evaluation": {"interval": "2s"},
            "receivers": [{"name": "hook", "webhook": {"url": webhook_server.url(path)}}],
            "routes": [{"receiver": "hook", "group_wait": "0s", "matchers": ['alertname="ProbesAnswer"']}],
        }
        (rig.content / "alerts" / "notifications.yaml").write_text(yaml.safe_dump(notify), encoding="utf-8")
        names = rig.write_inventory(8)
        for name in ("b1", "b2"):
            rig.start(rig.add(name))
        wait_until(lambda: sum(m["targets"] for m in rig.members() if m["live"]) == len(names), 90, "two shards")

        def both_fired() -> bool:
            return all((a.metric("opsagent_alerts", state="firing") or 0) >= 1 for a in rig.agents)

        wait_until(both_fired, 90, "the alert firing on both agents")
        time.sleep(6)  # several evaluation ticks on both
        listed = rig.cli("incident", "list", "-o", "json")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count('"ProbesAnswer"') >= 1
        incidents = [i for i in yaml.safe_load(listed.stdout) if i["alertname"] == "ProbesAnswer"]
        assert len(incidents) == 1, incidents
        posts = [body for p, body in webhook_server.received if p == path]
        assert len(posts) == 1, posts
