"""``credentials.snmp.version`` (where inventory/example.yaml puts it) is the SNMP version unless the
collector's ``version`` option says otherwise; a bad or contradicting value is refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.collectors.snmp.options import SnmpOptions
from opsagent.collectors.snmp.session import version_of
from opsagent.inventory.model import Asset

V3 = "{user: ops, auth_protocol: SHA, auth_password: 'env:A', priv_protocol: AES, priv_password: 'env:P'"


def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> tuple[int, str, Path]:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    inv = tmp_path / "inventory" / "snmp.yaml"
    inv.parent.mkdir()
    inv.write_text(body)
    result = CliRunner().invoke(cli, ["check", str(inv)], catch_exceptions=False)
    return result.exit_code, result.output, inv


@pytest.mark.parametrize("given", ['"3"', "3", "v3"])
def test_version_in_credentials_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    body = f"assets:\n  - name: sw1\n    kind: network\n    credentials:\n      snmp: {V3}, version: {given}}}\n"
    code, out, _ = check(tmp_path, monkeypatch, body)
    assert code == 0, out


def test_bad_version_in_credentials_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = "assets:\n  - name: sw1\n    kind: network\n    credentials:\n      snmp: {version: 4, community: env:C}\n"
    code, out, inv = check(tmp_path, monkeypatch, body)
    assert code == 2, out
    assert f"{inv}:4:" in out and "snmp.version" in out and "1, 2c or 3" in out, out


def test_contradicting_versions_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (
        "assets:\n  - name: sw1\n    kind: network\n"
        f"    credentials:\n      snmp: {V3}, version: '3'}}\n"
        "    collectors: [{name: snmp, options: {version: 2c}}]\n"
    )
    code, out, inv = check(tmp_path, monkeypatch, body)
    assert code == 2, out
    assert f"{inv}:2:" in out and "contradicts credentials.snmp.version" in out, out


def test_effective_version() -> None:
    v3 = Asset(name="a", credentials={"snmp": {"version": 3, "user": "u"}})
    assert version_of(v3, SnmpOptions()) == "3"
    assert version_of(v3, SnmpOptions(version="3")) == "3"
    assert version_of(Asset(name="b", credentials={"snmp": {"community": "env:C"}}), SnmpOptions()) == "2c"
    # the collector option (or a runbook step's override) is explicit and wins
    v2c = Asset(name="c", credentials={"snmp": {"version": "2c", "community": "env:C"}})
    assert version_of(v2c, SnmpOptions(version="1")) == "1"
    assert SnmpOptions.model_validate({"version": 3}).version == "3"
    with pytest.raises(ValueError, match="1, 2c or 3"):
        SnmpOptions.model_validate({"version": "4"})


@pytest.mark.parametrize(
    ("snmp", "message"),
    [
        ("{version: 3, community: env:C}", "snmp.version 3 needs snmp.user"),
        ("{version: 2c, user: ops, auth_password: env:A}", "snmp.version 2c needs snmp.community"),
    ],
)
def test_an_explicit_version_names_what_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snmp: str, message: str
) -> None:
    body = f"assets:\n  - name: sw1\n    kind: network\n    credentials:\n      snmp: {snmp}\n"
    code, out, inv = check(tmp_path, monkeypatch, body)
    assert code == 2 and f"{inv}:4:" in out and message in out, out


def test_a_bad_collector_option_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (
        "assets:\n  - name: sw1\n    kind: network\n    credentials: {snmp: {community: env:C}}\n"
        "    collectors: [{name: snmp, options: {version: 4}}]\n"
    )
    code, out, inv = check(tmp_path, monkeypatch, body)
    assert code == 2 and f"{inv}:2:" in out and "collectors[0].options.version" in out, out
