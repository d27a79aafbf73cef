"""The SSH poll program's watchdog, run by dash, bash and BusyBox ash as sshd runs it (a session
leader: ``start_new_session``): a poll past its seconds is killed with every process it started,
and says so; a poll in time stops its watchdog and leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from opsagent.collectors.ssh.batch import READY, TIMEOUT, build_program
from opsagent.collectors.ssh.options import Check

SHELLS = [["dash"], ["bash"], ["busybox", "sh"]]


def live(token: str) -> list[int]:
    """Pids of live (not zombie) processes whose command line holds ``token``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if token in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def session_members(sid: int) -> list[int]:
    """Pids of live processes of session ``sid`` (field 6 of /proc/PID/stat)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(proc.name))
    return found


def gone(token: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not live(token):
            return True
        time.sleep(0.1)
    return False


def read_until(proc: Any, marker: bytes, timeout: float = 30.0) -> bytes:
    os.set_blocking(proc.stdout.fileno(), False)
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        chunk = proc.stdout.read(65536)
        if chunk == b"":
            break  # EOF
        data += chunk or b""
        time.sleep(0.02)
    return data


def start(proc: Any, checks: list[Check]) -> None:
    """Send the program and wait until it is ready (dash reads its script in blocks: a request
    sent with the program would be read as program text; the collector waits the same way)."""
    proc.stdin.write(build_program(checks).encode())
    proc.stdin.flush()
    assert READY.encode() in read_until(proc, READY.encode())


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_poll_past_its_time_is_killed_with_its_children(shell: list[str]) -> None:
    token = uuid.uuid4().hex[:8]
    # A hung check with a child of its own (as `df` on a dead NFS mount under a check's sh -c).
    checks = [
        Check(name="quick", command="echo fine", parser="loadavg"),
        Check(name="hung", command=f"sh -c 'sleep 3600 # {token}' & sleep 3601 # {token}", parser="loadavg"),
    ]
    proc = subprocess.Popen(
        shell, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        start(proc, checks)
        proc.stdin.write(b"poll 1 1\n")
        proc.stdin.flush()
        started = time.monotonic()
        out = read_until(proc, TIMEOUT.encode())
        assert TIMEOUT.encode() in out, out
        assert proc.wait(timeout=10) == -9  # the shell itself went with its process group
        assert time.monotonic() - started < 8
        assert gone(token), f"left running: {live(token)}"
        assert not session_members(proc.pid)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_poll_in_time_stops_its_watchdog(shell: list[str]) -> None:
    checks = [Check(name="quick", command="echo fine", parser="loadavg")]
    proc = subprocess.Popen(
        shell, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        start(proc, checks)
        for seq in range(1, 21):
            proc.stdin.write(f"poll {seq} 42\n".encode())
            proc.stdin.flush()
            out = read_until(proc, f"done {seq}\n".encode())
            assert f"done {seq}\n".encode() in out and TIMEOUT.encode() not in out
        # Nothing of the session but the shell (a watchdog's `sleep 1` caught mid-start ends by itself).
        deadline = time.monotonic() + 5
        while session_members(proc.pid) != [proc.pid] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session_members(proc.pid) == [proc.pid]
        assert proc.poll() is None  # the shell waits for the next request
    finally:
        proc.kill()
        proc.wait()


def test_no_watchdog_outside_a_session_of_its_own() -> None:
    """Run in a process group it does not lead (here: pytest's), the program never arms its
    watchdog: it must not signal a group it does not own."""
    checks = [Check(name="slow", command="sleep 2", parser="loadavg")]
    proc = subprocess.Popen(["dash"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        start(proc, checks)
        proc.stdin.write(b"poll 1 1\nexit\n")
        proc.stdin.flush()
        out = read_until(proc, b"done 1\n")
        assert b"done 1\n" in out and TIMEOUT.encode() not in out
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_a_quick_step_stops_its_watchdog_without_a_word_on_stderr(shell: list[str]) -> None:
    """Stopping the watchdog before it has set its TERM trap killed it by the signal, and dash then
    said "Terminated" on the step's stderr (about half of 200 quick steps did before the fix)."""
    from opsagent.collectors.ssh.batch import guarded_script

    script = guarded_script("echo out; echo err >&2; exit 3", 30)
    for _ in range(60):
        done = subprocess.run(
            [*shell], input=script, capture_output=True, text=True, start_new_session=True, timeout=30
        )
        assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
