"""The runbook library with a broken file or two runbooks of one name: the others stay usable
(list, run, serve's reload keeps the last good version), the broken one says why with file:line,
and `opsagent check` still fails on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsagent.runbooks.library import read_library
from tests.peer.rbhelpers import Home, make_home

GOOD = "name: good\ntargets: localhost\nsteps:\n  - {name: hello, shell: 'echo hello'}\n"
BROKEN = "name: broken\nkind: bogus\nsteps:\n  - {name: x, shell: 'true'}\n"
DUP = "# the same name twice\nname: twin\nsteps:\n  - {name: s, shell: 'true'}\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return make_home(tmp_path, monkeypatch)


def test_a_broken_runbook_file_does_not_block_the_others(home: Home) -> None:
    home.runbook("good.yaml", GOOD)
    broken = home.runbook("emergency/broken.yaml", BROKEN)
    listed = home.cli("runbook", "list", "-o", "json")
    assert listed.exit_code == 0
    names = {r["name"] for r in json.loads(listed.stdout)}
    assert "good" in names and "linux-host-inspection" in names and "broken" not in names
    assert f"warning: {broken}:2:" in listed.stderr
    ran = home.cli("runbook", "run", "good")
    assert ran.exit_code == 0, ran.output
    for ask in ("broken", "emergency/broken"):
        refused = home.cli("runbook", "run", ask)
        assert refused.exit_code == 2 and f"{broken}:2:" in refused.stderr
    checked = home.cli("check", str(home.content / "runbooks"))
    assert checked.exit_code == 2 and f"{broken}:2:" in checked.output + checked.stderr


def test_two_runbooks_with_one_name_are_refused_naming_both_files(home: Home) -> None:
    one = home.runbook("a/twin.yaml", DUP)
    two = home.runbook("b/twin.yaml", DUP)
    home.runbook("good.yaml", GOOD)
    refused = home.cli("runbook", "run", "twin")
    assert refused.exit_code == 2
    assert f"{one}:2: name: runbook 'twin' is also defined in {two}:2" in refused.stderr
    assert f"{two}:2: name: runbook 'twin' is also defined in {one}:2" in refused.stderr
    assert home.cli("runbook", "run", "good").exit_code == 0
    checked = home.cli("check", str(home.content / "runbooks"))
    assert checked.exit_code == 2 and f"{one}:2: name: runbook 'twin' is also defined in {two}:2" in checked.stderr


def test_an_override_in_a_later_root_still_replaces_the_shipped_runbook(home: Home) -> None:
    shipped = read_library([Path(__file__).parents[2]]).entries["linux-host-inspection"]
    home.runbook("mine.yaml", GOOD.replace("name: good", "name: linux-host-inspection"))
    shown = home.cli("runbook", "show", "linux-host-inspection", "-o", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["path"] != str(shipped.path)
    assert home.cli("check", str(home.content / "runbooks")).exit_code == 0


def test_a_reload_keeps_the_last_good_version_of_a_file_now_broken(home: Home) -> None:
    path = home.runbook("good.yaml", GOOD)
    roots = [home.content]
    first = read_library(roots)
    assert first.entries["good"].runbook.steps[0].name == "hello" and not first.issues
    path.write_text(GOOD.replace("steps:", "steps: [oops"))  # half-edited
    fresh = read_library(roots, previous=first)
    assert fresh.entries["good"] is first.entries["good"]
    assert fresh.issues and str(fresh.issues[0]).startswith(f"{path}:")
    assert read_library(roots).entries == {}  # without a previous set, it is simply left out


def test_check_reports_a_template_error_at_the_fields_line(home: Home) -> None:
    path = home.runbook(
        "tpl.yaml",
        "name: tpl\n"
        "steps:\n"
        "  - name: a\n"
        "    shell: ls\n"
        "    check:\n"
        "      - warn: 'true'\n"
        "      - fail: 'a =='\n"
        "        message: m\n"
        "  - name: b\n"
        "    block:\n"
        "      - name: c\n"
        "        when: 'true'\n"
        "        shell: 'echo {{ oops'\n",
    )
    checked = home.cli("check", str(path))
    assert checked.exit_code == 2
    assert f"{path}:7: steps.0.check.1.fail: template syntax error" in checked.stderr
    assert f"{path}:13: steps.1.block.0.shell.command: template syntax error" in checked.stderr


def test_reload_reads_only_changed_runbook_files(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve re-reads the library every 30 s: an unchanged file is not parsed again, a changed one is."""
    from opsagent.runbooks import library

    good = home.runbook("good.yaml", GOOD)
    roots = [home.content]
    read_library(roots)
    parsed: list[Path] = []
    real = library.parse_yaml_file
    monkeypatch.setattr(library, "parse_yaml_file", lambda p: parsed.append(p) or real(p))
    again = read_library(roots)
    assert parsed == [] and "good" in again.entries
    good.write_text(GOOD.replace("echo hello", "echo hello again"))
    changed = read_library(roots)
    assert parsed == [good] and "hello again" in str(changed.entries["good"].runbook.model_dump())
