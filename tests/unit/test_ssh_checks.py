"""SSH check parsers on fixture cases (pyinfra style: tests/fixtures/ssh_checks/<parser>/<case>.json
holds a command, its output and the parsed value expected), plus the batch script and its output
splitting, without any network."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from opsagent.collectors.ssh.batch import (
    FAILED,
    MARK,
    READY,
    SUDO_OK,
    build_program,
    build_script,
    check_command,
    split_output,
)
from opsagent.collectors.ssh.checks import PARSERS
from opsagent.collectors.ssh.collector import interpret
from opsagent.collectors.ssh.options import Check, SshOptions

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ssh_checks"
CASES = sorted(FIXTURES.glob("*/*.json"))


def test_every_parser_has_cases() -> None:
    assert {p.parent.name for p in CASES} == set(PARSERS)


def _matches(parsed: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict) and isinstance(parsed, dict):
        for key, value in expected.items():
            assert key in parsed, f"{where}.{key} missing"
            _matches(parsed[key], value, f"{where}.{key}")
    else:
        assert parsed == expected, where


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parser_case(case: Path) -> None:
    data = json.loads(case.read_text(encoding="utf-8"))
    parser = PARSERS[case.parent.name]
    parsed = json.loads(json.dumps(parser.parse(data["output"])))
    _matches(parsed, data["expected"], case.stem)
    parser.emit(parser.parse(data["output"]), SshOptions())  # every case also turns into samples


@pytest.mark.parametrize(
    ("parser", "garbage"),
    [
        ("proc_stat", "hello\n"),
        ("meminfo", "not meminfo\n"),
        ("loadavg", "oops"),
        ("cpuinfo", "nothing"),
        ("system", "a=b\n"),
        ("os_release", "# only a comment\n"),
        ("network", "eth0 1 2 3\n@@section@@\n"),
        ("filesystems", "no separator here\n"),
    ],
)
def test_unrecognised_output_is_a_parse_error(parser: str, garbage: str) -> None:
    with pytest.raises(ValueError):
        PARSERS[parser].parse(garbage)


def test_filesystems_follow_node_exporter_exclusions_and_errors() -> None:
    case = json.loads((FIXTURES / "filesystems" / "alpine319_busybox_space_and_error.json").read_text())
    parser = PARSERS["filesystems"]
    samples, _ = parser.emit(parser.parse(case["output"]), SshOptions())
    mounts = {dict(s.labels)["mountpoint"] for s in samples}
    assert mounts == {"/", "/srv/backup disk", "/mnt/nas"}  # /proc excluded by fstype
    errors = {dict(s.labels)["mountpoint"]: s.value for s in samples if s.name == "node_filesystem_device_error"}
    assert errors == {"/": 0, "/srv/backup disk": 0, "/mnt/nas": 1}
    ro = {dict(s.labels)["mountpoint"]: s.value for s in samples if s.name == "node_filesystem_readonly"}
    assert ro == {"/": 0, "/srv/backup disk": 1}


def test_systemd_failed_units_become_unit_state_series() -> None:
    case = json.loads((FIXTURES / "systemd" / "ubuntu2204_failed_units.json").read_text())
    parser = PARSERS["systemd"]
    samples, facts = parser.emit(parser.parse(case["output"]), SshOptions())
    failed = {
        dict(s.labels)["name"]
        for s in samples
        if s.name == "node_systemd_unit_state" and dict(s.labels)["state"] == "failed" and s.value == 1
    }
    assert failed == {"apport-autoreport.service", "snapd.seeded.service"}
    assert facts["systemd_failed_units"] == sorted(failed)
    running = [s.value for s in samples if s.name == "node_systemd_system_running"]
    assert running == [0]  # "degraded"


def _checks(*specs: tuple[str, str, str]) -> list[Check]:
    return [Check(name=n, command=c, parser=p) for n, c, p in specs]


def test_batch_script_runs_in_sh_and_splits_back() -> None:
    checks = _checks(
        ("a", "printf 'no newline'", "loadavg"),
        ("b", "echo one; echo two", "loadavg"),
        ("c", "exit 3", "loadavg"),
        ("d", "cat", "loadavg"),  # must read /dev/null, not the rest of the script
        ("e", "true", "loadavg"),
    )
    script = build_script(checks)
    run = subprocess.run(["sh"], input=script, capture_output=True, text=True, timeout=30, check=False)
    out = split_output(run.stdout, checks)
    assert out["a"].output == "no newline" and out["a"].exit_status == 0
    assert out["b"].output == "one\ntwo\n"
    assert out["c"].exit_status == 3
    assert out["d"].output == "" and out["d"].exit_status == 0
    assert out["e"].exit_status == 0


def test_truncated_batch_marks_unfinished_checks() -> None:
    checks = _checks(("a", "true", "loadavg"), ("b", "true", "loadavg"))
    text = build_script(checks)
    run = subprocess.run(["sh"], input=text, capture_output=True, text=True, timeout=30, check=False).stdout
    cut = run[: run.index("begin b") + len("begin b\n")] + "partial"
    out = split_output(cut, checks)
    assert out["a"].exit_status == 0 and out["b"].exit_status is None


def test_interpret_required_and_optional_failures() -> None:
    checks = [
        Check(name="load", command="x", parser="loadavg"),
        Check(name="extra", command="x", parser="dmi", required=False),
    ]
    options = SshOptions(checks=checks)
    script_out = subprocess.run(
        ["sh"],
        input=build_script(
            [
                Check(name="load", command="echo '0.5 0.4 0.3 1/100 42'", parser="loadavg"),
                Check(name="extra", command="exit 1", parser="dmi"),
            ]
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    ok = interpret("h", "ssh", options, script_out, "", 0)
    assert ok.ok and "extra" in ok.message
    assert [s.value for s in ok.samples if s.name == "node_load1"] == [0.5]
    bad = interpret("h", "ssh", options, script_out.replace("0.5 0.4 0.3", "x"), "", 0)
    assert (bad.ok, bad.reason) == (False, "parse")
    empty = interpret("h", "ssh", options, "", "sudo: a password is required\n", 1)
    assert (empty.ok, empty.reason) == (False, "sudo")


def test_options_validate_parser_names_and_duplicates() -> None:
    with pytest.raises(ValidationError, match="unknown parser"):
        SshOptions.model_validate({"checks": [{"name": "a", "command": "x", "parser": "nope"}]})
    with pytest.raises(ValidationError, match="duplicate check"):
        SshOptions.model_validate(
            {"checks": [{"name": "a", "command": "x", "parser": "dmi"}, {"name": "a", "command": "y", "parser": "dmi"}]}
        )
    with pytest.raises(ValidationError, match="invalid regular expression"):
        SshOptions.model_validate({"netdev_exclude": "("})


def _read_until(stream: Any, marker: bytes) -> bytes:
    data = b""
    while not data.endswith(marker):
        chunk = stream.read1(65536)
        assert chunk, f"EOF before {marker!r}; got {data[-300:]!r}"
        data += chunk
    return data


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_long_lived_program_answers_each_request(shell: str) -> None:
    """The program a connection keeps running: sent once, then one line per poll; each answer ends
    with its own done line and splits back into the checks (a check reading stdin sees /dev/null,
    not the next request)."""
    checks = _checks(("a", "echo one", "loadavg"), ("b", "cat; exit 4", "loadavg"))
    proc = subprocess.Popen([shell], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(build_program(checks).encode())
        proc.stdin.flush()
        _read_until(proc.stdout, READY.encode())
        for seq in (1, 2, 3):
            proc.stdin.write(f"poll {seq}\n".encode())
            proc.stdin.flush()
            text = _read_until(proc.stdout, f"done {seq}\n".encode()).decode()
            out = split_output(text, checks)
            assert out["a"].output == "one\n" and out["a"].exit_status == 0
            assert out["b"].output == "" and out["b"].exit_status == 4
        proc.stdin.write(b"exit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_stderr_is_closed_only_after_a_failed_check(shell: str) -> None:
    """A poll whose checks all succeeded answers on stdout alone (one SSH packet, nothing for the
    reader to wait for on stderr); a failed check's poll closes stderr with its marker, after the
    check's own complaint, and says so on stdout, so the reader knows to wait for it."""
    ok = _checks(("a", "echo one; echo warning >&2", "loadavg"))
    bad = _checks(("a", "echo one", "loadavg"), ("b", "echo broken >&2; exit 2", "loadavg"), ("c", "true", "loadavg"))
    for checks, failed in ((ok, False), (bad, True)):
        run = subprocess.run([shell], input=build_script(checks), capture_output=True, text=True, timeout=30)
        assert (FAILED in run.stdout) is failed
        assert (f"{MARK} stderr 1" in run.stderr) is failed
        out = split_output(run.stdout, checks)
        assert out["a"].output == "one\n" and out["a"].exit_status == 0
        if failed:
            assert run.stderr.index("broken") < run.stderr.index(f"{MARK} stderr 1")
            assert out["b"].exit_status == 2 and out["c"].exit_status == 0 and out["c"].output == ""


def test_sudo_wrapping_only_where_needed() -> None:
    check = Check(name="serial", command="cat /sys/class/dmi/id/product_serial", parser="dmi", sudo=True)
    plain = Check(name="plain", command="id", parser="id")
    assert check_command(plain, as_root=False, password=True) == "id"
    assert check_command(check, as_root=True, password=True) == check.command  # the shell is root already
    nopasswd = check_command(check, as_root=False, password=False)
    assert nopasswd.startswith("sudo -n -- sh -c ") and "exec </dev/null" in nopasswd
    with_password = check_command(check, as_root=False, password=True)
    assert "sudo -S -p ''" in with_password and '"$__opsagent_pw"' in with_password
    assert "exec </dev/null" in with_password  # the command can never read the password


def test_sudo_ok_marker_is_stripped_and_reported() -> None:
    checks = _checks(("a", "x", "loadavg"), ("b", "x", "loadavg"))
    text = f"{MARK} begin a\n{SUDO_OK}0.1 0.2 0.3\n{MARK} end a 0\n{MARK} begin b\n0.1 0.2 0.3\n{MARK} end b 0\n"
    out = split_output(text, checks)
    assert out["a"].sudo_ok and out["a"].output == "0.1 0.2 0.3"
    assert not out["b"].sudo_ok and out["b"].output == "0.1 0.2 0.3"


def test_unchanged_facts_from_changed_outputs_are_reused() -> None:
    """A check whose output changed (counters moved) but whose facts did not keeps its cached facts
    dict, so the poll's merged facts are the same object as last time (no merge, no store diff)."""
    from opsagent.collectors.ssh.plans import ParseCache

    options = SshOptions.model_validate(
        {"checks": [{"name": "meminfo", "parser": "meminfo", "command": "cat /proc/meminfo"}]}
    )
    cache = ParseCache()

    def poll(free_kb: int) -> Any:
        body = f"MemTotal:       16000000 kB\nMemFree:        {free_kb} kB\nMemAvailable:   9000000 kB\n"
        text = f"{MARK} begin meminfo\n{body}\n{MARK} end meminfo 0\n"
        return interpret("h", "ssh", options, text, "", 0, cache)

    first, second = poll(1000), poll(2000)
    assert first.ok and second.ok
    assert second.facts is first.facts and second.facts["memory"]["total_bytes"] == 16000000 * 1024
    free = [s.value for s in second.samples if s.name == "node_memory_MemFree_bytes"]
    assert free == [2000 * 1024]


@pytest.mark.parametrize("name", ["network", "filesystems"])
def test_cached_sections_are_not_shared_with_callers(name: str) -> None:
    """The mount table and sysfs attributes are parsed once per distinct text: a caller changing
    what one parse returned must not change the next parse of the same output."""
    output = json.loads(next((FIXTURES / name).glob("*.json")).read_text(encoding="utf-8"))["output"]
    parse = PARSERS[name].parse
    first = parse(output)
    expected = json.loads(json.dumps(first))
    rows = first.values() if isinstance(first, dict) else first
    for row in rows:
        (row["attrs"] if name == "network" else row).clear()
    assert json.loads(json.dumps(parse(output))) == expected
