"""Invalid input on the command line exits 2, an unusable store 3 — never 1 or a traceback (issue 20, item 30)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from opsagent.cli import cli


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args))  # exceptions caught: a traceback shows as exit 1

    return invoke


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["events", "--since", "bogus"], "Invalid value for '--since': invalid duration 'bogus'"),
        (["events", "--since", "-1h"], "Invalid value for '--since'"),
        (["alert", "silence", "add", "alertname=X", "-c", "why", "-d", "-5m"], "Invalid value for '-d' / '--duration'"),
        (["alert", "silence", "add", "alertname=X", "-c", "why", "-d", "0s"], "a duration must be longer than 0"),
        (["alert", "maintenance", "add", "alertname=X", "-c", "why", "-d", "2hours"], "invalid duration '2hours'"),
        (["alert", "silence", "add", "alertname=X", "-c", "why", "--end", "tomorrow"], "not an ISO time"),
        (["runbook", "run", "postgresql-inspection", "-e", "no-equals-sign"], "'no-equals-sign': expected key=value"),
        (["runbook", "run", "postgresql-inspection", "-e", "=1"], "expected key=value"),
        (
            ["runbook", "run", "postgresql-inspection", "--check", "-e", "slow_query_seconds=x"],
            "parameter slow_query_seconds: 'x' is not a valid int",
        ),
        (
            ["runbook", "run", "linux-host-inspection", "--check", "-e", "cert_dirs=" + "[" * 5000],
            "is not a valid list",
        ),
        (["config", "backup", "--timeout", "soon"], "Invalid value for '--timeout'"),
        (["inventory", "discover", "--snmp", "127.0.0.1", "--timeout", "-1"], "Invalid value for '--timeout'"),
    ],
)
def test_invalid_input_exits_2(run, args: list[str], words: str) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert words in result.output


def test_durations_with_units_are_accepted(run) -> None:  # type: ignore[no-untyped-def]
    result = run("alert", "maintenance", "add", "alertname=X", "-c", "change 42", "-d", "1h30m")
    assert result.exit_code == 0, result.output
    assert run("events", "--since", "2d").exit_code == 0


def test_an_unusable_home_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("OPSAGENT_HOME", str(blocker / "home"))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    result = CliRunner().invoke(cli, ["inventory", "list"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, result.output
    assert f"store error: cannot create the store's directory {blocker / 'home'}: Not a directory" in result.output
