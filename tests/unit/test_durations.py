"""One duration type for every timeout and interval of every collector (issue 20, item 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from opsagent.cli import cli
from opsagent.collectors import options_models
from opsagent.units import parse_duration

_TIMING = re.compile(r"timeout|interval|keepalive|idle|deadline|delay|cache|wait|period|ttl|age")


def _timing_fields() -> list[tuple[str, type[BaseModel], str]]:
    return [
        (collector, model, field)
        for collector, model in sorted(options_models().items())
        for field in model.model_fields
        if _TIMING.search(field)
    ]


def test_the_collectors_have_timing_options() -> None:
    found = {(c, f) for c, _, f in _timing_fields()}
    expected = {("ssh", "connect_timeout"), ("ssh", "keepalive"), ("snmp", "timeout"), ("postgres", "connect_timeout")}
    assert expected <= found


@pytest.mark.parametrize(("collector", "model", "field"), _timing_fields())
def test_every_timing_option_takes_units(collector: str, model: type[BaseModel], field: str) -> None:
    for text, seconds in (("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), (3, 3.0), ("1.5", 1.5)):
        value = getattr(model.model_validate({field: text}), field)
        assert value == seconds, (collector, field, text)
    for bad in ("soon", "1 parsec", "nan", "1e999"):
        with pytest.raises(ValueError):
            model.model_validate({field: bad})


@pytest.mark.parametrize("text", ["nan", "inf", "1e999", 10**400, "200y"])
def test_non_finite_or_absurd_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_check_validates_the_options_an_asset_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    inv = tmp_path / "inventory" / "hosts.yaml"
    inv.parent.mkdir()
    inv.write_text(
        "assets:\n"
        "  - name: a\n"
        "    collectors:\n"
        "      - {name: ssh, options: {connect_timeout: 1s, keepalive: 2m, idle_close: 10m, command_timeout: 500ms}}\n"
        "      - {name: snmp, options: {timeout: 1s, deadline: 2s}}\n"
        "groups:\n"
        "  web:\n"
        "    collectors:\n"
        "      - name: ssh\n"
        "        options:\n"
        "          connect_timeout: soon\n"
        "          conect_timeout: 1s\n"
    )
    result = CliRunner().invoke(cli, ["check", str(inv)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert f"{inv}:11: groups.web.collectors.0.options.connect_timeout: Value error, invalid duration 'soon'" in (
        result.output
    )
    assert f"{inv}:12: groups.web.collectors.0.options.conect_timeout: Extra inputs are not permitted" in result.output
    assert "assets.0" not in result.output


def test_import_refuses_collector_options_polls_would_fail_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    inv = tmp_path / "hosts.yaml"
    inv.write_text("assets:\n  - name: a\n    collectors:\n      - {name: ssh, options: {connect_timeout: soon}}\n")
    result = CliRunner().invoke(cli, ["inventory", "import", str(inv)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert f"{inv}:4: assets.0.collectors.0.options.connect_timeout: Value error, invalid duration" in result.output
    inv.write_text("assets:\n  - name: a\n    collectors:\n      - {name: ssh, options: {connect_timeout: 1s}}\n")
    assert CliRunner().invoke(cli, ["inventory", "import", str(inv)], catch_exceptions=False).exit_code == 0


def test_the_ssh_keepalive_follows_the_poll_interval_unless_set() -> None:
    from opsagent.collectors.ssh.collector import keepalive_for

    assert keepalive_for(None, None) == 30  # a one-off connection (a runbook step)
    assert [keepalive_for(None, i) for i in (5, 20, 60, 150, 200, 3600)] == [30, 30, 90, 225, 300, 300]
    assert keepalive_for(0, 60) == 0  # off stays off
    assert keepalive_for(12.5, 60) == 13  # paramiko takes whole seconds
