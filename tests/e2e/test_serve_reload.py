"""SIGHUP and `POST /-/reload` reload serve's content: a valid change is applied (a new rule fires, a new
runbook is listed), an invalid one keeps the last good set with the reason in the log and
`opsagent_config_last_reload_successful 0`, and SIGHUP never kills serve."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_alerts_e2e import start, stop
from tests.e2e.test_serve import wait_until
from tests.peers.ports import free_port

pytestmark = pytest.mark.peer

TOKEN = "reload-test-token-1"
FIRST = {"groups": [{"name": "base", "rules": [{"alert": "BaseRule", "expr": "vector(1) > 5"}]}]}
ADDED = {"groups": [{"name": "added", "rules": [{"alert": "ReloadedRule", "expr": "vector(1) > 0"}]}]}
BROKEN = "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: rate(up[0s]) > 1\n"
RUNBOOK = """name: reload-probe
description: A runbook added while serving
kind: emergency
targets: localhost
steps:
  - name: say
    shell: echo hi
"""


def _request(port: int, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(), exc.code
    return status, json.loads(body) if body.startswith(("{", "[")) else body


def _gauge(port: int) -> float | None:
    _status, text = _request(port, "GET", "/metrics")
    for line in str(text).splitlines():
        if line.startswith("opsagent_config_last_reload_successful "):
            return float(line.split()[1])
    return None


def _alerts(port: int) -> set[str]:
    _status, body = _request(port, "GET", "/api/v1/alerts")
    return {a["labels"]["alertname"] for a in body}


def test_reload_by_api_and_sighup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_API_TOKEN", TOKEN)
    home = tmp_path / "home"
    alerts = home / "site" / "alerts"
    alerts.mkdir(parents=True)
    (alerts / "base.rules.yaml").write_text(yaml.safe_dump(FIRST))
    (alerts / "notifications.yaml").write_text(yaml.safe_dump({"evaluation": {"interval": "1s"}}))
    (home / "opsagent.yaml").write_text(yaml.safe_dump({"content_roots": ["site"], "seed_inventory": []}))
    port = free_port()
    log = home / "serve.log"
    agent = start(home, port)
    try:
        assert _gauge(port) == 1.0
        (alerts / "added.rules.yaml").write_text(yaml.safe_dump(ADDED))
        (home / "site" / "runbooks" / "emergency").mkdir(parents=True)
        (home / "site" / "runbooks" / "emergency" / "reload-probe.yaml").write_text(RUNBOOK)

        assert _request(port, "POST", "/-/reload")[0] == 401  # token-guarded
        assert _request(port, "POST", "/-/reload", "wrong")[0] == 401
        time.sleep(2)
        assert "ReloadedRule" not in _alerts(port)  # nothing reloaded without the token

        status, body = _request(port, "POST", "/-/reload", TOKEN)
        assert (status, body) == (200, {"status": "success", "errors": []})
        wait_until(lambda: "ReloadedRule" in _alerts(port), 30, "the reloaded rule firing", log, agent)
        names = [r["name"] for r in _request(port, "GET", "/api/v1/runbooks")[1]]
        assert "reload-probe" in names

        (alerts / "broken.rules.yaml").write_text(BROKEN)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: _gauge(port) == 0.0, 30, "the reload gauge at 0", log, agent)
        assert agent.poll() is None  # SIGHUP did not kill serve
        assert "reload failed" in log.read_text() and "broken.rules.yaml:5" in log.read_text()
        status, body = _request(port, "POST", "/-/reload", TOKEN)
        assert status == 500 and any("broken.rules.yaml:5: groups.0.rules.0.expr" in e for e in body["errors"])
        time.sleep(2)
        assert "ReloadedRule" in _alerts(port)  # the last good set is still evaluated

        (alerts / "broken.rules.yaml").unlink()
        (alerts / "added.rules.yaml").unlink()
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: _gauge(port) == 1.0, 30, "the reload gauge back at 1", log, agent)
        wait_until(lambda: "ReloadedRule" not in _alerts(port), 30, "the removed rule gone", log, agent)
        assert agent.poll() is None
    finally:
        stop(agent)
