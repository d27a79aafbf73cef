"""A real Alertmanager (Debian ``prometheus-alertmanager``) on 127.0.0.1 and a free port.

Fixture:
    start_alertmanager (session) -> factory(webhook_url: str | None, token_file: Path | None = None)
        -> AlertmanagerHandle
        (.url, .alerts() via API v2, .stop()); every one started is stopped at session end.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

INSTALL_HINT = "install the Debian package `prometheus-alertmanager` (bash scripts/test.sh does it)"


def _binary() -> str:
    path = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if path is None:
        pytest.fail(f"Alertmanager not found on PATH: {INSTALL_HINT}", pytrace=False)
    return path


class AlertmanagerHandle:
    def __init__(self, daemon: Daemon, port: int) -> None:
        self.daemon = daemon
        self.port = port
        self.url = f"http://{LOCALHOST}:{port}"

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as resp:
            body: list[dict[str, Any]] = json.loads(resp.read())
            return body

    def stop(self) -> None:
        self.daemon.stop()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def launch_alertmanager(base: Path, webhook_url: str | None, token_file: Path | None = None) -> AlertmanagerHandle:
    """``token_file``: the webhook sends ``Authorization: Bearer <its content>`` (``http_config``)."""
    receiver: dict[str, Any] = {"name": "opsagent"}
    if webhook_url:
        webhook: dict[str, Any] = {"url": webhook_url, "send_resolved": True}
        if token_file is not None:
            webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}
        receiver["webhook_configs"] = [webhook]
    config = {
        "route": {
            "receiver": "opsagent",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [receiver],
    }
    (base / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [
        _binary(),
        f"--config.file={base / 'alertmanager.yml'}",
        f"--storage.path={base / 'data'}",
        f"--web.listen-address={LOCALHOST}:{port}",
        "--cluster.listen-address=",
    ]
    daemon = Daemon("alertmanager", argv, base / "alertmanager.log", cwd=base)
    handle = AlertmanagerHandle(daemon, port)
    daemon.wait_ready(functools.partial(_ready, handle.url), timeout=60)
    return handle


@pytest.fixture(scope="session")
def start_alertmanager() -> Iterator[Callable[..., AlertmanagerHandle]]:
    started: list[tuple[AlertmanagerHandle, Path]] = []

    def start(webhook_url: str | None = None, token_file: Path | None = None) -> AlertmanagerHandle:
        base = Path(tempfile.mkdtemp(prefix="opsagent-am-"))
        handle = launch_alertmanager(base, webhook_url, token_file)
        started.append((handle, base))
        return handle

    try:
        yield start
    finally:
        for handle, base in started:
            handle.stop()
            shutil.rmtree(base, ignore_errors=True)
