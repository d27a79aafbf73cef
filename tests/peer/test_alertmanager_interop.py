"""A real Prometheus with a rule and a real Alertmanager send a webhook to opsagent, which opens an
incident (same dedup as its own alerts); opsagent forwards its own alerts to the Alertmanager (API v2).
The webhook needs a bearer token: Alertmanager sends it from ``http_config.authorization``."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsagent.alerts.alertmanager import post_alerts
from opsagent.alerts.notify.formats import NotifyAlert
from opsagent.alerts.notifyconfig import AlertmanagerTarget
from tests.e2e.test_alerts_e2e import start, stop
from tests.e2e.test_serve import opsagent, wait_until
from tests.peers.alertmanager import AlertmanagerHandle
from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon
from tests.peers.prometheus import _binary, _ready

pytestmark = pytest.mark.peer


def _prometheus_with_alerting(base: Path, am: AlertmanagerHandle) -> Daemon:
    rule = {
        "alert": "InteropAlways",
        "expr": "vector(1) > 0",
        "labels": {"severity": "warning", "asset": "prom-side"},
        "annotations": {"summary": "from Prometheus"},
    }
    silenced = rule | {"labels": {"severity": "warning", "asset": "silenced-side"}}
    rules = {"groups": [{"name": "interop", "rules": [rule, silenced]}]}
    (base / "rules.yml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"evaluation_interval": "1s", "scrape_interval": "5s"},
        "rule_files": [str(base / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{LOCALHOST}:{am.port}"]}]}]},
    }
    (base / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    daemon = Daemon(
        "prometheus",
        [
            _binary("prometheus"),
            f"--config.file={base / 'prometheus.yml'}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address={LOCALHOST}:{port}",
        ],
        base / "prometheus.log",
        cwd=base,
    )
    daemon.wait_ready(functools.partial(_ready, f"http://{LOCALHOST}:{port}"), timeout=60)
    return daemon


def _incidents(home: Path, asset: str = "prom-side") -> list[dict[str, Any]]:
    res = opsagent("incident", "list", "--status", "all", "-o", "json", home=home)
    assert res.returncode == 0, res.stderr
    return [r for r in json.loads(res.stdout) if r["alertname"] == "InteropAlways" and r["asset"] == asset]


def test_prometheus_alertmanager_webhook_opens_incident(tmp_path: Path, start_alertmanager: Any) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "inventory.yaml").write_text(yaml.safe_dump({"assets": [{"name": "idle", "kind": "host"}]}))
    (tmp_path / "am.token").write_text("am-webhook-s3cret\n")
    (home / "opsagent.yaml").write_text(
        yaml.safe_dump({"seed_inventory": ["inventory.yaml"], "api_token_ref": f"file:{tmp_path / 'am.token'}"})
    )
    silence = opsagent(
        "alert", "silence", "add", 'asset="silenced-side"', "-d", "2h", "-c", "opsagent silence", home=home
    )
    assert silence.returncode == 0, silence.stderr
    port = free_port()
    agent = start(home, port)
    prom: Daemon | None = None
    try:
        webhook = f"http://{LOCALHOST}:{port}/api/v1/alertmanager"
        unauthenticated = urllib.request.Request(webhook, data=b'{"alerts": []}', method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(unauthenticated, timeout=10)
        assert refused.value.code == 401
        am = start_alertmanager(webhook, tmp_path / "am.token")
        (tmp_path / "prom").mkdir()
        prom = _prometheus_with_alerting(tmp_path / "prom", am)
        rows = wait_until(lambda: _incidents(home), 90, "incident from the Alertmanager webhook", home / "serve.log")
        assert len(rows) == 1
        incident = rows[0]
        assert incident["source"] == "alertmanager" and incident["status"] == "open"
        assert incident["asset"] == "prom-side" and incident["title"] == "from Prometheus"
        time.sleep(3)  # Alertmanager re-sends within group_interval: still one incident
        assert len(_incidents(home)) == 1
        assert _incidents(home, "silenced-side") == []  # opsagent's silence holds for Alertmanager's alerts too
    finally:
        if prom is not None:
            prom.stop()
        stop(agent)


def test_forward_to_alertmanager_api_v2(start_alertmanager: Any) -> None:
    am = start_alertmanager(None)
    alert = NotifyAlert("fp1", {"alertname": "ForwardedFromOpsagent", "asset": "web01"}, {"summary": "s"}, "firing",
                        time.time() - 5, None, 7, 1.0)  # fmt: skip
    ok, error = asyncio.run(post_alerts(AlertmanagerTarget(url=am.url), [alert], "http://opsagent", time.time()))
    assert ok, error
    found = wait_until(
        lambda: [a for a in am.alerts() if a["labels"].get("alertname") == "ForwardedFromOpsagent"], 30, "alert in AM"
    )
    assert found[0]["labels"]["asset"] == "web01" and found[0]["status"]["state"] == "active"
    assert found[0]["generatorURL"] == "http://opsagent/incidents/7"
    dead = AlertmanagerTarget(url=f"http://{LOCALHOST}:{free_port()}", timeout=2)
    ok, error = asyncio.run(post_alerts(dead, [alert], "http://opsagent", time.time()))
    assert not ok and error  # a dead Alertmanager is a result, never an exception
