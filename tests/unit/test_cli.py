"""The CLI on the embedded default store (SQLite in a temp OPSAGENT_HOME)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opsagent.cli import cli
from opsagent.config import shipped_content_root

INVENTORY = """\
groups:
  prod: {children: [web], vars: {env: prod}}
  web: {vars: {role: web}}
assets:
  - {name: web01, address: 10.0.0.1, groups: [web], tags: {dc: bj},
     credentials: {ssh: {user: ops, password: env:WEB_PW}}}
  - {name: web02, address: 10.0.0.2, groups: [web]}
  - {name: sw01, kind: network, address: 10.0.9.1}
"""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_check_shipped_content_is_valid(run) -> None:  # type: ignore[no-untyped-def]
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "all valid" in result.output


def test_check_reports_every_problem_with_file_and_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = tmp_path / "inventory" / "bad.yaml"
    inv.parent.mkdir()
    inv.write_text("assets:\n  - name: a\n    kind: router\n  - name: b\n    port: 0\n")
    rules = tmp_path / "alerts" / "bad.rules.yaml"
    rules.parent.mkdir()
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: X\n        record: y\n        expr: up\n")
    result = run("check", str(inv), str(rules))
    assert result.exit_code == 2
    assert f"{inv}:3: assets.0.kind:" in result.output
    assert f"{inv}:5: assets.1.port:" in result.output
    assert f"{rules}:4: groups.0.rules.0:" in result.output and "exactly one of 'alert' or 'record'" in result.output
    assert "2 invalid" in result.output


def test_check_does_not_touch_the_store(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("check")
    assert not (tmp_path / "home" / "opsagent.db").exists()


def test_inventory_import_list_export_history(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    result = run("inventory", "import", str(path), "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["added"] == 3
    listed = json.loads(run("inventory", "list", "web:&prod:!web02", "-o", "json").output)
    assert [a["name"] for a in listed] == ["web01"]
    assert listed[0]["credentials"] == {"ssh": {"user": "ops", "password": "env:WEB_PW"}}
    table = run("inventory", "list", "kind=network").output
    assert "sw01" in table and "web01" not in table
    shown = json.loads(run("inventory", "show", "web01", "-o", "json").output)
    assert shown["effective_vars"] == {"env": "prod", "role": "web"}
    exported = run("inventory", "export").output
    assert "env:WEB_PW" in exported and "web02" in exported
    assert "ansible_host: 10.0.0.1" in run("inventory", "export", "--format", "ansible").output
    history = run("inventory", "history", "web01", "-o", "json")
    assert history.exit_code == 0 and json.loads(history.output) == []


def test_unknown_selector_and_asset_exit_codes(run) -> None:  # type: ignore[no-untyped-def]
    result = run("inventory", "list", "nosuchgroup")
    assert result.exit_code == 2 and "matches no group or asset" in result.output
    assert run("inventory", "show", "ghost").exit_code == 1


def test_failed_import_changes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.yaml"
    good.write_text(INVENTORY)
    run("inventory", "import", str(good))
    before = run("inventory", "list", "-o", "json").output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        INVENTORY.replace("10.0.0.2", "10.0.0.22") + "  - {name: x1, credentials: {snmp: {community: public}}}\n"
    )
    result = run("inventory", "import", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:9: assets.3.credentials.snmp.community:" in result.output and "public" not in result.output
    assert run("inventory", "list", "-o", "json").output == before


def test_poll_local_host_records_facts(run) -> None:  # type: ignore[no-untyped-def]
    result = run("poll", "localhost", "-o", "json")
    assert result.exit_code == 0, result.output
    (res,) = json.loads(result.output)
    assert res["outcome"] == "ok" and res["collector"] == "local"
    names = {s["name"] for s in res["samples"]}
    assert {"node_load1", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes"} <= names
    history = json.loads(run("inventory", "history", "localhost", "-o", "json").output)
    assert "hostname" in {c["key"] for c in history}
    table = run("poll", "localhost", "--no-samples")
    assert table.exit_code == 0 and "localhost" in table.output and "hostname" in table.output


def test_poll_failure_exit_code(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "inv.yaml"
    path.write_text("assets:\n  - name: odd\n    collectors: [{name: nosuch}]\n")
    run("inventory", "import", str(path))
    result = run("poll", "odd", "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.output)[0]["reason"] == "config"


def test_seed_is_the_local_host(run) -> None:  # type: ignore[no-untyped-def]
    listed = json.loads(run("inventory", "list", "-o", "json").output)
    assert [a["name"] for a in listed] == ["localhost"]
    assert (shipped_content_root() / "inventory" / "local.yaml").is_file()
