"""Flap detection with the timings of the field report: a port toggled every 1.5 s for 45 s, probed
every 1 s, evaluated every 1 s and after every probe result. It must be marked flapping (state
changes of the alert count, not evaluations), and the notification storm must stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.incidents import repo
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer

RULE = {"alert": "PortDown", "expr": "probe_success == 0", "labels": {"severity": "critical"}}


def _port_up(t: float) -> bool:
    return int(t // 1.5) % 2 == 0  # toggled every 1.5 s


async def test_toggling_port_is_marked_flapping(tmp_path: Path, webhook_server: WebhookServer) -> None:
    path = f"/{tmp_path.name}"
    rules = compile_document(parse_yaml_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [RULE]}]}), "f.yaml"))
    route = {"receiver": "hook", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "0s"}
    config = NotifyConfig.model_validate(
        {
            "evaluation": {"interval": "1s"},
            "receivers": [{"name": "hook", "webhook": {"url": webhook_server.url(path)}}],
            "routes": [route],
        }
    )
    store = Store(sqlite_url(tmp_path / "store.db"))
    history = SeriesHistory(retention=3600)
    engine = AlertEngine(store, history, rules, config)
    base = time.time()
    kinds: list[str] = []
    try:
        for step in range(45):  # 45 s: a tick every 1 s, a probe at +0.3 s and a tick right after it
            probe_at = base + step + 0.3
            history.ingest("probe", [("probe_success", {"asset": "web1"}, float(_port_up(step + 0.3)), "gauge")],
                           probe_at, replace=True)  # fmt: skip
            for t in (probe_at + 0.05, base + step + 1.0):
                kinds += [tr.kind for tr in (await engine.tick(t)).transitions]
        flapping_at = kinds.index("flapping_started")
        assert kinds[:flapping_at].count("resolved") <= 6  # the storm is cut short, well before 15 cycles
        assert "resolved" not in kinds[flapping_at:]  # held firing while flapping
        incidents = repo.list_incidents(store, None, None, 100)
        assert len(incidents) == 1 and incidents[0]["status"] == "open"
        posts = [b for p, b in webhook_server.received if p == path]
        assert len(posts) <= 2 * kinds[:flapping_at].count("fired")  # nothing sent once flapping
    finally:
        store.close()
