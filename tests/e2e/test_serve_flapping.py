"""End to end, the field report's flapping port: a real `opsagent serve` probes a TCP port that this
test opens and closes every 1.5 s, every 1 s, evaluating every 1 s. The alert is marked flapping after
a few cycles (not 15 resolve/reopen cycles), and once flapping it is held firing."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.test_alerts_e2e import start, stop
from tests.e2e.test_serve import opsagent, wait_until
from tests.peers.ports import free_port
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer

RULES = {"groups": [{"name": "ports", "rules": [{"alert": "FlapPortDown", "expr": "probe_success == 0"}]}]}


class TogglingPort:
    """A TCP port listening for 1.5 s, closed (refused) for 1.5 s, and so on, until stopped."""

    def __init__(self, port: int, period: float = 1.5) -> None:
        self.port, self.period = port, period
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            with socket.create_server(("127.0.0.1", self.port)) as server:
                server.settimeout(0.05)
                until = time.monotonic() + self.period
                while time.monotonic() < until and not self.done.is_set():
                    with contextlib.suppress(TimeoutError):
                        server.accept()[0].close()
            self.done.wait(self.period)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)


def _incident(home: Path) -> dict[str, Any] | None:
    res = opsagent("incident", "list", "--status", "all", "-o", "json", home=home)
    rows = [r for r in json.loads(res.stdout or "[]") if r["alertname"] == "FlapPortDown"]
    return rows[-1] if rows else None


def _events(home: Path, incident: int) -> list[str]:
    shown = json.loads(opsagent("incident", "show", str(incident), "-o", "json", home=home).stdout)
    return [e["kind"] for e in shown["events"]]


def test_toggling_port_is_marked_flapping(tmp_path: Path, webhook_server: WebhookServer) -> None:
    home = tmp_path / "home"
    alerts = home / "site" / "alerts"
    alerts.mkdir(parents=True)
    (alerts / "ports.rules.yaml").write_text(yaml.safe_dump(RULES))
    notify = {
        "evaluation": {"interval": "1s"},
        "receivers": [{"name": "hook", "webhook": {"url": webhook_server.url(f"/{tmp_path.name}")}}],
        "routes": [{"receiver": "hook", "group_wait": "0s", "group_interval": "1s"}],
    }
    (alerts / "notifications.yaml").write_text(yaml.safe_dump(notify))
    port = free_port()
    probe = {"name": "probe", "interval": "1s", "options": {"probes": [{"module": "tcp_connect",
                                                                       "target": f"127.0.0.1:{port}"}]}}  # fmt: skip
    (home / "inventory.yaml").write_text(yaml.safe_dump({"assets": [{"name": "flappy", "collectors": [probe]}]}))
    (home / "opsagent.yaml").write_text(
        yaml.safe_dump({"content_roots": ["site"], "seed_inventory": ["inventory.yaml"]})
    )
    toggling = TogglingPort(port)
    agent = start(home, free_port())
    try:
        row = wait_until(
            lambda: (r := _incident(home)) and r["flapping"] and r, 90, "flapping", home / "serve.log", agent
        )
        before = _events(home, row["id"])
        assert before.count("resolved") <= 8, before  # marked within a few cycles, not 15 and counting
        time.sleep(8)  # still toggling: held firing, no resolve/reopen while flapping
        after = _events(home, row["id"])
        assert after.count("resolved") == before.count("resolved"), after
        assert (_incident(home) or {}).get("status") == "open"
    finally:
        toggling.stop()
        stop(agent)
