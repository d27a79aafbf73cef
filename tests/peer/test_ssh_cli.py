"""`opsagent poll` with SSH assets: results shown with reasons, facts kept in the inventory history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsagent.cli import cli
from tests.peers.ports import free_port
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer


def test_poll_shows_results_and_records_facts(
    sshd_server: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    monkeypatch.setenv("OPSAGENT_TEST_SSH_PW", sshd_server.password_file.read_text().strip())
    options = f"{{known_hosts: ['{sshd_server.known_hosts}']}}"
    inventory = tmp_path / "ssh.yaml"
    inventory.write_text(
        f"""\
assets:
  - name: good
    address: {sshd_server.host}
    port: {sshd_server.port}
    credentials: {{ssh: {{user: {sshd_server.user}, password: env:OPSAGENT_TEST_SSH_PW}}}}
    collectors: [{{name: ssh, profile: linux, timeout: 20s, options: {options}}}]
  - name: closed
    address: {sshd_server.host}
    port: {free_port()}
    credentials: {{ssh: {{user: {sshd_server.user}, password: env:OPSAGENT_TEST_SSH_PW}}}}
    collectors: [{{name: ssh, profile: linux, timeout: 20s, options: {options}}}]
"""
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["inventory", "import", str(inventory)], catch_exceptions=False).exit_code == 0
    result = runner.invoke(cli, ["poll", "good,closed", "-c", "ssh", "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 1  # one target failed
    rows = {r["asset"]: r for r in json.loads(result.output)}
    assert rows["good"]["outcome"] == "ok" and rows["good"]["facts"]["os"]["id"]
    assert (rows["closed"]["outcome"], rows["closed"]["reason"]) == ("unreachable", "refused")
    assert sshd_server.password_file.read_text().strip() not in result.output
    history = runner.invoke(cli, ["inventory", "history", "good", "--key", "os.*", "-o", "json"])
    assert history.exit_code == 0, history.output
    assert "os.id" in history.output
