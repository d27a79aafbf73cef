"""`opsagent runbook run` at a real terminal (a pseudo-terminal driven by pexpect) against the
real sshd: the approval prompt, answering no and yes, `--yes`, live per-target progress, and a
stdin that is no terminal."""

from __future__ import annotations

import getpass
import os
import re
import signal
import subprocess
import sys
import time

import pexpect
import pytest

from opsagent.store import Store
from opsagent.store import runbook_repo as runs
from tests.peer.rbhelpers import Home, import_inventory, make_home, ssh_asset
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer

RESTART = """\
name: svc-restart
kind: emergency
targets: linux
parameters:
  service: {type: str, default: nginx}
steps:
  - name: diagnose
    ssh: "echo checking {{ service }} on $(hostname)"
  - name: confirm restart
    approve: "Restart {{ service }} on {{ asset.name }}?"
  - name: restart
    ssh: "echo restarted {{ service }}"
    register: restarted
"""
TIMEOUT = 120  # generous: the machine is shared and may be loaded


@pytest.fixture
def home(tmp_path: object, monkeypatch: pytest.MonkeyPatch, sshd_server: SshServer) -> Home:
    h = make_home(tmp_path, monkeypatch)  # type: ignore[arg-type]
    import_inventory(h, [ssh_asset(sshd_server, "web1"), ssh_asset(sshd_server, "web2")])
    h.runbook("emergency/svc-restart.yaml", RESTART)
    return h


def at_a_terminal() -> None:
    """In the child before exec: Ctrl-C and Ctrl-\\ at their defaults, as a shell at a terminal
    starts a foreground command. An ignored signal stays ignored across fork and exec, and a test
    runner started with `&` by a shell without job control (a CI script, `cmd &` under load)
    ignores SIGINT: the child would inherit that, and Ctrl-C at the prompt would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def spawn(home: Home, *args: str) -> pexpect.spawn:
    env = {**os.environ, **home.env, "TERM": "xterm", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    return pexpect.spawn(
        sys.executable,
        ["-m", "opsagent", "runbook", "run", *args],
        env=env,
        encoding="utf-8",
        timeout=TIMEOUT,
        dimensions=(40, 120),
        preexec_fn=at_a_terminal,
    )


def finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return child.exitstatus, child.before or ""


def last_run(home: Home) -> dict[str, object]:
    store = Store(f"sqlite:///{home.path / 'opsagent.db'}")
    try:
        run = runs.get_run(store, runs.list_runs(store, "svc-restart", 1)[0]["id"])
    finally:
        store.close()
    assert run is not None
    return run


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_answering_no_at_the_prompt_rejects_the_step_and_records_who(home: Home) -> None:
    child = spawn(home, "svc-restart", "-l", "web1")
    child.expect(r"\[web1\] confirm restart: Restart nginx on web1\? \[y/N\]: ")
    child.sendline("n")
    code, tail = finish(child)
    assert code == 1
    assert re.search(r"failed\S*\s+web1", plain(tail)), tail
    run = last_run(home)
    steps = [(s["path"], s["status"]) for s in run["steps"]]  # type: ignore[attr-defined]
    assert steps == [("diagnose", "ok"), ("confirm restart", "rejected")]
    [approval] = run["approvals"]  # type: ignore[misc]
    assert approval["status"] == "rejected"
    assert approval["decided_by"] == getpass.getuser() and approval["comment"] == "at the terminal"
    assert run["status"] == "failed"


def test_answering_yes_runs_on_and_progress_shows_each_target(home: Home) -> None:
    child = spawn(home, "svc-restart")  # both targets: the questions come one at a time
    asked = []
    for _ in range(2):
        child.expect(r"\[(web[12])\] confirm restart: Restart nginx on web[12]\? \[y/N\]: ")
        asked.append(child.match.group(1))
        child.sendline("y")
    code, tail = finish(child)
    out = plain(tail)
    assert code == 0, out
    assert sorted(asked) == ["web1", "web2"]
    # One status line per finished target, then the summary.
    assert re.search(r"ok\s+web1 \(\d+\.\d+s\)", out) and re.search(r"ok\s+web2 \(\d+\.\d+s\)", out), out
    assert re.search(r"run #\d+ succeeded: ok 2", out), out
    run = last_run(home)
    approvals = run["approvals"]
    assert len(approvals) == 2  # type: ignore[arg-type]
    for approval in approvals:  # type: ignore[attr-defined]
        assert approval["status"] == "approved" and approval["decided_by"] == getpass.getuser()
    restarted = [s for s in run["steps"] if s["path"] == "restart"]  # type: ignore[attr-defined]
    assert [s["stdout"].strip() for s in restarted] == ["restarted nginx", "restarted nginx"]


def test_live_progress_bar_is_drawn_at_a_terminal(home: Home) -> None:
    """A slow step keeps the run going long enough for rich's live bar to be drawn."""
    home.runbook(
        "task/slow.yaml",
        "name: slow\ntargets: linux\nsteps:\n  - name: nap\n    ssh: sleep 2 && echo done\n",
    )
    env = {**os.environ, **home.env, "TERM": "xterm"}
    child = pexpect.spawn(
        sys.executable, ["-m", "opsagent", "runbook", "run", "slow"], env=env, encoding="utf-8",
        timeout=TIMEOUT, dimensions=(40, 120), preexec_fn=at_a_terminal,
    )  # fmt: skip
    child.expect(r"run #\d+: slow on 2 target\(s\)")
    child.expect(r"slow\s.*0/2")  # the bar: runbook name, bar, done/total
    code, tail = finish(child)
    assert code == 0
    assert re.search(r"ok\s+web1", plain(tail)) and re.search(r"ok\s+web2", plain(tail))


def test_yes_skips_the_prompt(home: Home) -> None:
    child = spawn(home, "svc-restart", "-l", "web2", "--yes")
    index = child.expect([r"\[y/N\]", pexpect.EOF])
    assert index == 1, "--yes must not ask"
    child.close()
    assert child.exitstatus == 0, child.before
    [approval] = last_run(home)["approvals"]  # type: ignore[misc]
    assert approval["status"] == "approved" and approval["comment"] == "--yes"
    assert approval["decided_by"] == getpass.getuser()


def test_stdin_not_a_terminal_fails_clearly_instead_of_waiting(home: Home) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "opsagent", "runbook", "run", "svc-restart", "-l", "web1"],
        env={**os.environ, **home.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines
    assert "no terminal to ask at: rerun with --yes or approve through the API" in out
    assert time.monotonic() - started < TIMEOUT
    run = last_run(home)
    assert [s["status"] for s in run["steps"]] == ["ok", "rejected"]  # type: ignore[attr-defined]
    assert run["approvals"][0]["status"] == "rejected"  # type: ignore[index]


@pytest.mark.parametrize("runner_sigint", ["default", "ignored"])
def test_ctrl_c_at_the_prompt_stops_the_run_and_records_it(home: Home, runner_sigint: str) -> None:
    """Also when the test runner itself ignores SIGINT (started in the background by a shell
    without job control): the agent at its terminal must still stop on Ctrl-C."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if runner_sigint == "ignored" else None
    try:
        child = spawn(home, "svc-restart", "-l", "web1")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    child.expect(r"\[y/N\]: ")
    child.sendintr()
    code, tail = finish(child)
    assert code != 0, tail
    run = last_run(home)
    assert run["status"] == "interrupted", run["status"]
    steps = [(s["path"], s["status"]) for s in run["steps"]]  # type: ignore[attr-defined]
    assert steps == [("diagnose", "ok"), ("confirm restart", "interrupted")]  # the step it was in shows
    [approval] = run["approvals"]  # type: ignore[misc]
    assert approval["status"] == "expired"  # asked, never answered: not left pending


def test_an_invalid_answer_is_asked_again(home: Home) -> None:
    child = spawn(home, "svc-restart", "-l", "web1")
    child.expect(r"\[y/N\]: ")
    child.sendline("maybe")
    child.expect("Error: invalid input")
    child.expect(r"\[web1\] confirm restart: Restart nginx on web1\? \[y/N\]: ")
    child.sendline("yes")
    code, _ = finish(child)
    assert code == 0
    [approval] = last_run(home)["approvals"]  # type: ignore[misc]
    assert approval["status"] == "approved"
