"""Restarting `opsagent serve` with an alert firing: the first evaluations run before any poll has
brought the series back, yet nothing resolves, no incident is resolved/reopened or duplicated and no
"resolved" notification goes out; the alert (over a recorded series) then resolves normally."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_alerts_e2e import start, stop, write_meminfo
from tests.e2e.test_serve import opsagent, wait_until
from tests.peers.ports import free_port
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer

RULES = {
    "groups": [
        {
            "name": "memory",
            "rules": [
                {
                    "record": "asset:memory_available:percent",
                    "expr": "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100",
                },
                {"alert": "RestartMemoryLow", "expr": "asset:memory_available:percent < 10", "for": "1s"},
            ],
        }
    ]
}


def _setup(home: Path, proc: Path, hook: WebhookServer) -> None:
    site = home / "site"
    (site / "alerts").mkdir(parents=True)
    (site / "alerts" / "restart.rules.yaml").write_text(yaml.safe_dump(RULES))
    notify = {
        "evaluation": {"interval": "1s"},
        "receivers": [{"name": "hook", "webhook": {"url": hook.url(f"/{home.parent.name}")}}],
        "routes": [{"receiver": "hook", "matchers": ['alertname="RestartMemoryLow"'], "group_interval": "1s"}],
    }
    (site / "alerts" / "notifications.yaml").write_text(yaml.safe_dump(notify))
    collector = {"name": "local", "interval": "2s", "options": {"proc_path": str(proc)}}
    (home / "inventory.yaml").write_text(yaml.safe_dump({"assets": [{"name": "rs-host", "collectors": [collector]}]}))
    (home / "opsagent.yaml").write_text(
        yaml.safe_dump({"content_roots": ["site"], "seed_inventory": ["inventory.yaml"]})
    )


def _incidents(home: Path) -> list[dict[str, Any]]:
    res = opsagent("incident", "list", "--status", "all", "-o", "json", home=home)
    assert res.returncode == 0, res.stderr
    return [r for r in json.loads(res.stdout) if r["alertname"] == "RestartMemoryLow"]


def _events(home: Path, incident: int) -> list[str]:
    shown = json.loads(opsagent("incident", "show", str(incident), "-o", "json", home=home).stdout)
    return [e["kind"] for e in shown["events"]]


def test_restart_resolves_nothing(tmp_path: Path, webhook_server: WebhookServer) -> None:
    home, proc = tmp_path / "home", tmp_path / "proc"
    home.mkdir()
    proc.mkdir()
    path = f"/{tmp_path.name}"

    def posts(status: str) -> list[Any]:
        return [b for p, b in webhook_server.received if p == path and b["status"] == status]

    write_meminfo(proc, 50_000)  # 5 % available: below the 10 % threshold
    _setup(home, proc, webhook_server)
    port = free_port()
    log = home / "serve.log"
    agent = start(home, port)
    try:
        wait_until(lambda: posts("firing"), 60, "firing webhook", log, agent)
        first = _incidents(home)
        assert len(first) == 1 and first[0]["status"] == "open"
        metrics = wait_until(lambda: _metrics(port), 30, "recorded series on /metrics", log, agent)
        assert 'asset:memory_available:percent{asset="rs-host"} 5.0' in metrics

        stop(agent)
        agent = start(home, port)  # the first ticks run before the first poll (every 2 s)
        time.sleep(6)  # several evaluations after the restart, the alert still firing
        rows = _incidents(home)
        assert [(r["id"], r["status"], r["count"]) for r in rows] == [(first[0]["id"], "open", 1)]
        assert "resolved" not in _events(home, first[0]["id"])
        assert posts("resolved") == [] and len(posts("firing")) == 1  # nothing for a state that did not change

        write_meminfo(proc, 500_000)  # recovered: it resolves, once
        wait_until(lambda: posts("resolved"), 60, "resolved webhook", log, agent)
        wait_until(lambda: _incidents(home)[0]["status"] == "resolved", 30, "incident resolved", log, agent)
        assert _events(home, first[0]["id"]).count("resolved") == 1
    finally:
        stop(agent)


def _metrics(port: int) -> str | None:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return text if "asset:memory_available:percent{" in text else None
