"""Hostile YAML ends in a located ConfigError (issue 20, items 10, 11 and 15), never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from opsagent.cli import cli
from opsagent.config import shipped_content_root
from opsagent.errors import ConfigError
from opsagent.loader import parse_yaml_file, parse_yaml_text
from tests.peers.ports import free_port

LAUGHS = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def _issue(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_yaml_text(text, "x.yaml")
    (issue,) = info.value.issues
    return str(issue)


def test_recursive_alias_is_refused_with_its_line() -> None:
    assert _issue("assets: &a [*a]\n").startswith("x.yaml:1: YAML error: recursive alias")
    assert "recursive alias" in _issue("a: 1\nb: &b {c: [1, *b]}\n")
    assert _issue("a: 1\nb: &b {c: [1, *b]}\n").startswith("x.yaml:2:")


def test_billion_laughs_is_refused_at_once() -> None:
    started = time.process_time()
    assert "excessive aliasing" in _issue(LAUGHS)
    assert time.process_time() - started < 2.0  # was 30 s and 2.5 GB


def test_an_anchor_shared_by_thousands_of_hosts_is_fine() -> None:
    hosts = "".join(f"  - {{name: h{i}, vars: *common}}\n" for i in range(3000))
    doc = parse_yaml_text(f"common: &common {{a: 1, b: 2, c: [1, 2, 3], d: {{e: f}}}}\nassets:\n{hosts}", "x.yaml")
    assert doc.data["assets"][2999]["vars"]["d"] == {"e": "f"}
    assert doc.line_of(("assets", 2999, "vars")) == 3002


def test_deep_nesting_is_refused() -> None:
    assert "nested deeper than" in _issue("a: " + "[" * 5000 + "]" * 5000)
    assert "nested deeper than" in _issue("a: " + "{a: " * 300 + "1" + "}" * 300)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a: 1\nvars: {d: 2023-02-29}\n", 2, "invalid timestamp '2023-02-29'"),
        ("a: 1\n\nt: 2023-02-28 25:00:00\n", 3, "hour must be in 0..23"),
        ("a: !!int 0x\n", 1, "invalid int"),
        ("a: !!float abc\n", 1, "invalid float"),
        ("a: !!bool maybe\n", 1, "invalid bool"),
        ("a:\n  b: !!binary aGVsbG8=\n", 2, "!!binary is not supported"),
        ("a: !!set {x}\n", 1, "!!set is not supported"),
    ],
)
def test_values_yaml_cannot_construct_are_located(text: str, line: int, words: str) -> None:
    message = _issue(text)
    assert message.startswith(f"x.yaml:{line}: YAML error: ") and words in message


def test_bad_utf8_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nb: café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        parse_yaml_file(path)
    assert str(info.value) == (
        f"{path}:2: not valid UTF-8: byte 0xe9 at column 7 (invalid continuation byte); save the file as UTF-8"
    )


def test_control_character_gives_line_and_column() -> None:
    assert _issue("a: 1\nb: 中x\x07\n") == (
        "x.yaml:2: unacceptable character U+0007 at column 6 (control characters are not allowed)"
    )


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPSAGENT_STORE", raising=False)
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    return CliRunner()


def test_cli_import_and_check_end_in_exit_2_with_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _home(tmp_path, monkeypatch)
    cases = {
        "rec.yaml": ("assets: &a [*a]\n", ":1: YAML error: recursive alias"),
        "laughs.yaml": (LAUGHS, ":1: YAML error: excessive aliasing"),
        "date.yaml": ("assets:\n  - name: a\n    vars: {d: 2023-02-29}\n", ":3: YAML error: invalid timestamp"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        for args in (["inventory", "import", str(path)], ["check", str(path)]):
            result = runner.invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == 2, (args, result.output)
            assert f"{path}{expected}" in result.output


def test_impossible_holiday_in_the_service_level_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _home(tmp_path, monkeypatch)
    shipped = (shipped_content_root() / "alerts" / "service-levels.yaml").read_text(encoding="utf-8")
    site_days = "    holidays: []"  # the site's own extra days off, beside the package's public holidays
    assert site_days in shipped
    path = tmp_path / "alerts" / "service-levels.yaml"
    path.parent.mkdir()
    path.write_text(shipped.replace(site_days, "    holidays:\n      - 2026-02-29", 1), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("      - 2026-02-29"))
    result = runner.invoke(cli, ["check", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{path}:{line}: YAML error: invalid timestamp '2026-02-29'" in result.output


def test_empty_runbook_names_line_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _home(tmp_path, monkeypatch)
    path = tmp_path / "runbooks" / "empty.yaml"
    path.parent.mkdir()
    path.write_text("")
    result = runner.invoke(cli, ["check", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{path}:1: name: Field required" in result.output


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("alerts/bad.rules.yaml", "groups: &a [*a]\n", ":1: YAML error: recursive alias"),
        ("alerts/service-levels.yaml", "targets: {}\nholidays: [2026-02-29]\n", ":2: YAML error: invalid timestamp"),
    ],
)
def test_serve_refuses_hostile_content_cleanly(tmp_path: Path, name: str, text: str, words: str) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "root" / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    config = tmp_path / "opsagent.yaml"
    config.write_text(f"content_roots: [root]\nlisten: 127.0.0.1:{free_port()}\n")
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path / "home")}
    env.pop("OPSAGENT_STORE", None)
    done = subprocess.run(
        [sys.executable, "-m", "opsagent", "--config", str(config), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{path}{words}" in done.stderr


def test_cli_import_of_a_file_that_is_not_utf8_names_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _home(tmp_path, monkeypatch)
    path = tmp_path / "hosts.yaml"
    path.write_bytes("assets:\n  - name: caf\xe9\n".encode("latin-1"))
    result = runner.invoke(cli, ["inventory", "import", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{path}:2: not valid UTF-8: byte 0xe9 at column 14" in result.output


def test_collector_settings_errors_name_the_config_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = _home(tmp_path, monkeypatch)
    config = tmp_path / "agent.yaml"
    config.write_text("listen: 127.0.0.1:9810\ncollector_settings:\n  ssh:\n    max_workers: lots\n")
    result = runner.invoke(cli, ["--config", str(config), "inventory", "list"], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{config}:4: collector_settings.ssh.max_workers: Input should be a valid integer" in result.output
    config.write_text("collector_settings:\n  nosuch: {}\n")
    result = runner.invoke(cli, ["--config", str(config), "inventory", "list"], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{config}:2: collector_settings.nosuch: no such configurable collector" in result.output


def test_a_value_that_does_not_fit_its_tag_is_not_repeated() -> None:
    message = _issue("credentials:\n  password: !!int Hunter2secret\n")
    assert message == "x.yaml:2: YAML error: invalid int: the value does not fit the !!int tag (column 13)"
