"""Helpers for runbook tests: a home with its own content root, assets on the test sshd, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from opsagent.cli import cli
from tests.peers.sshd import SshServer


@dataclass
class Home:
    path: Path
    content: Path
    env: dict[str, str]

    def runbook(self, rel: str, text: str) -> Path:
        path = self.content / "runbooks" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, input=input, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "-o", "json")
        return json.loads(result.stdout)

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """The real `opsagent` in its own process (to be killed mid-run)."""
        return subprocess.Popen(
            [sys.executable, "-m", "opsagent", *args],
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )


def make_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    home = tmp_path / "home"
    content = tmp_path / "content"
    (content / "runbooks").mkdir(parents=True)
    home.mkdir()
    (home / "opsagent.yaml").write_text(f"content_roots: ['{content}']\n")
    for var in ("OPSAGENT_STORE", "OPSAGENT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    env = {"OPSAGENT_HOME": str(home)}
    monkeypatch.setenv("OPSAGENT_HOME", str(home))
    return Home(home, content, env)


def ssh_asset(server: SshServer, name: str, port: int | None = None, **variables: Any) -> str:
    """One YAML inventory item for an asset reached on the test sshd with the client key."""
    vars_text = json.dumps(
        {"opsagent_ssh": {"known_hosts": [str(server.known_hosts)], "connect_timeout": 10}, **variables}
    )
    return (
        f"  - name: {name}\n"
        f"    address: {server.host}\n"
        f"    port: {port or server.port}\n"
        f"    groups: [linux]\n"
        f"    credentials: {{ssh: {{user: {server.user}, key_file: '{server.client_key}'}}}}\n"
        f"    vars: {vars_text}\n"
    )


def import_inventory(home: Home, items: list[str], extra: str = "") -> None:
    path = home.path / "inventory.yaml"
    path.write_text("assets:\n" + "".join(items) + extra)
    result = home.cli("inventory", "import", str(path))
    assert result.exit_code == 0, result.output
