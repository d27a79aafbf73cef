"""The CLI against a real PostgreSQL store chosen by --store and by OPSAGENT_STORE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsagent.cli import cli

pytestmark = pytest.mark.peer


def test_store_flag_and_env_select_postgresql(
    pg_empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    path = tmp_path / "inv.yaml"
    path.write_text("assets:\n  - {name: pg-asset, kind: database, address: 10.1.1.1, port: 5432}\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", pg_empty_url, "inventory", "import", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("OPSAGENT_STORE", pg_empty_url)
    listed = runner.invoke(cli, ["inventory", "list", "kind=database", "-o", "json"], catch_exceptions=False)
    assert [a["name"] for a in json.loads(listed.output)] == ["pg-asset"]
    assert not (tmp_path / "home" / "opsagent.db").exists()  # nothing went to the SQLite default


def test_unreachable_store_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))
    url = "postgresql+psycopg://ops:topsecret@127.0.0.1:1/none?connect_timeout=2"
    result = CliRunner().invoke(cli, ["--store", url, "inventory", "list"])
    assert result.exit_code == 3
    assert "store error" in result.output and "topsecret" not in result.output
