"""End to end: a collector sample crosses a threshold → incident opened, notified by webhook and a
real SMTP server → restart of `opsagent serve` (nothing lost, no duplicate) → value clears past the
recovery threshold → incident resolved and the resolution notified."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_serve import opsagent, wait_until
from tests.peers.ports import free_port, wait_port
from tests.peers.receivers import SmtpServer, WebhookServer

pytestmark = pytest.mark.peer

MEMINFO = """MemTotal:        1000000 kB
MemFree:          {free} kB
MemAvailable:     {avail} kB
Buffers:            1000 kB
Cached:            10000 kB
SwapTotal:             0 kB
SwapFree:              0 kB
"""

RULES = {
    "groups": [
        {
            "name": "e2e",
            "rules": [
                {
                    "alert": "E2EMemoryLow",
                    "expr": "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10",
                    "for": "1s",
                    "labels": {"severity": "critical", "category": "software"},
                    "annotations": {
                        "summary": '{{ $labels.asset }}: only {{ $value | printf "%.1f" }}% memory available',
                        "runbook_url": "runbooks/emergency/memory-pressure.yaml",
                        "opsagent_recover_expr": (
                            "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 > 20"
                        ),
                    },
                }
            ],
        }
    ]
}


def write_meminfo(proc: Path, avail_kb: int) -> None:
    tmp = proc / "meminfo.tmp"
    tmp.write_text(MEMINFO.format(free=avail_kb, avail=avail_kb))
    tmp.replace(proc / "meminfo")


def setup_home(home: Path, proc: Path, smtp: SmtpServer, hook: WebhookServer) -> None:
    site = home / "site"
    (site / "alerts").mkdir(parents=True)
    (site / "alerts" / "e2e.rules.yaml").write_text(yaml.safe_dump(RULES))
    notify = {
        "evaluation": {"interval": "1s"},
        "receivers": [
            {"name": "hook", "webhook": {"url": hook.url("/e2e")}},
            {
                "name": "mail",
                "email": {
                    "to": ["oncall@example.test"],
                    "from": "opsagent@example.test",
                    "smarthost": f"127.0.0.1:{smtp.port}",
                    "starttls": "never",
                },
            },
        ],
        "routes": [
            {"receiver": r, "matchers": ['alertname="E2EMemoryLow"'], "group_interval": "1s"} for r in ("hook", "mail")
        ],
    }
    (site / "alerts" / "notifications.yaml").write_text(yaml.safe_dump(notify))
    inventory = {
        "assets": [
            {
                "name": "e2e-host",
                "kind": "host",
                "collectors": [{"name": "local", "interval": "1s", "options": {"proc_path": str(proc)}}],
            }
        ]
    }
    (home / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    (home / "opsagent.yaml").write_text(
        yaml.safe_dump({"content_roots": ["site"], "seed_inventory": ["inventory.yaml"]})
    )


def start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"OPSAGENT_HOME": str(home)}
    env.pop("OPSAGENT_STORE", None)
    log = (home / "serve.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsagent", "-v", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    assert wait_port(port, timeout=60), (home / "serve.log").read_text()[-3000:]
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def incidents(home: Path) -> list[dict[str, Any]]:
    res = opsagent("incident", "list", "--status", "all", "-o", "json", home=home)
    assert res.returncode == 0, res.stderr
    rows: list[dict[str, Any]] = json.loads(res.stdout)
    return [r for r in rows if r["alertname"] == "E2EMemoryLow"]


def hook_posts(hook: WebhookServer, status: str) -> list[Any]:
    return [b for p, b in hook.received if p == "/e2e" and b["status"] == status]


def test_threshold_incident_notify_restart_resolve(
    tmp_path: Path, smtp_server: SmtpServer, webhook_server: WebhookServer
) -> None:
    smtp_server.clear()
    webhook_server.clear()
    home, proc_dir = tmp_path / "home", tmp_path / "proc"
    home.mkdir()
    proc_dir.mkdir()
    write_meminfo(proc_dir, 500_000)  # 50 % available: fine
    setup_home(home, proc_dir, smtp_server, webhook_server)
    port = free_port()
    log = home / "serve.log"
    agent = start(home, port)
    try:
        time.sleep(3)
        assert incidents(home) == []
        crossed = time.monotonic()
        write_meminfo(proc_dir, 50_000)  # 5 %: below the 10 % threshold
        wait_until(lambda: hook_posts(webhook_server, "firing"), 30, "firing webhook", log, agent)
        latency = time.monotonic() - crossed
        rows = incidents(home)
        assert len(rows) == 1 and rows[0]["status"] == "open"
        assert rows[0]["asset"] == "e2e-host" and rows[0]["priority"] == "P1" and rows[0]["category"] == "software"
        assert "5.0% memory available" in rows[0]["title"]
        body = hook_posts(webhook_server, "firing")[0]
        assert body["alerts"][0]["labels"]["alertname"] == "E2EMemoryLow"
        assert body["alerts"][0]["incidentId"] == rows[0]["id"]
        wait_until(lambda: smtp_server.messages, 30, "firing email", log, agent)
        assert "[FIRING:1] E2EMemoryLow" in smtp_server.messages[0]["Subject"]
        # 1 s poll interval + 1 s `for` + evaluation: well under the poll interval + for + 1 s goal x 3
        assert latency < 15, latency

        stop(agent)
        agent = start(home, port)
        time.sleep(4)  # several ticks after the restart, the alert still firing
        rows = incidents(home)
        assert len(rows) == 1 and rows[0]["status"] == "open" and rows[0]["count"] == 1, rows
        assert len(hook_posts(webhook_server, "firing")) == 1  # not re-notified after the restart

        write_meminfo(proc_dir, 150_000)  # 15 %: above the alert threshold, below recovery (20 %)
        time.sleep(4)
        assert incidents(home)[0]["status"] == "open"  # hysteresis holds it

        write_meminfo(proc_dir, 500_000)
        wait_until(lambda: incidents(home)[0]["status"] == "resolved", 30, "incident resolved", log, agent)
        wait_until(lambda: hook_posts(webhook_server, "resolved"), 30, "resolved webhook", log, agent)
        wait_until(lambda: any("RESOLVED" in m["Subject"] for m in smtp_server.messages), 30, "resolved email", log)
        shown = json.loads(opsagent("incident", "show", str(rows[0]["id"]), "-o", "json", home=home).stdout)
        kinds = [e["kind"] for e in shown["events"]]
        assert kinds[0] == "opened" and kinds[-1] == "resolved" and kinds.count("opened") == 1
    finally:
        stop(agent)
