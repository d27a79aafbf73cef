"""Agent-wide collector settings (``collector_settings`` in opsagent.yaml) reach the SSH collector."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opsagent.app import App
from opsagent.collectors.ssh import SshCollector
from opsagent.collectors.ssh.logs import quiet_paramiko
from opsagent.config import load_config
from opsagent.errors import ConfigError


def _app(tmp_path: Path, text: str) -> App:
    (tmp_path / "opsagent.yaml").write_text(text)
    return App(load_config(tmp_path / "opsagent.yaml", environ={}))


def test_max_workers_from_the_agent_config(tmp_path: Path) -> None:
    app = _app(tmp_path, "collector_settings:\n  ssh: {max_workers: 3}\n")
    try:
        ssh = app.collectors["ssh"]
        assert isinstance(ssh, SshCollector)
        assert ssh.max_workers == 3
        assert ssh._executor._max_workers == 3
    finally:
        app.close()


def test_default_max_workers(tmp_path: Path) -> None:
    app = _app(tmp_path, "{}\n")
    try:
        assert app.collectors["ssh"].max_workers == 64  # type: ignore[attr-defined]
    finally:
        app.close()


@pytest.mark.parametrize(
    "text",
    [
        "collector_settings:\n  ssh: {max_workers: 0}\n",
        "collector_settings:\n  ssh: {max_wrokers: 8}\n",
        "collector_settings:\n  nosuch: {x: 1}\n",
    ],
)
def test_invalid_settings_are_config_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        _app(tmp_path, text)
    assert "collector_settings." in str(info.value)


def test_paramiko_errors_are_dropped_unless_paramiko_debugging(caplog: pytest.LogCaptureFixture) -> None:
    quiet_paramiko()
    quiet_paramiko()  # idempotent: one filter
    logger = logging.getLogger("paramiko.transport")
    assert sum(1 for f in logger.filters if type(f).__name__ == "_DropUnlessDebugging") == 1
    caplog.set_level(logging.DEBUG)  # an agent-wide debug level does not bring them back
    logger.error("Exception (client): Error reading SSH protocol banner")
    assert "banner" not in caplog.text
    paramiko_logger = logging.getLogger("paramiko")
    old = paramiko_logger.level
    paramiko_logger.setLevel(logging.DEBUG)
    try:
        logger.error("Exception (client): Error reading SSH protocol banner")
    finally:
        paramiko_logger.setLevel(old)
    assert "banner" in caplog.text
