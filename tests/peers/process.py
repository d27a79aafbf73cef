"""A daemon started for a test: Popen in its own session, log to a file, stopped for sure."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child when the test process dies (even by SIGKILL)."""
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Daemon:
    """One server process started by a fixture.

    ``ready`` is polled until it returns True; the process exiting first, or the deadline
    passing, raises RuntimeError with the log tail.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        """Start ``argv`` now (as ``user`` if given: needs root), output appended to ``log_path``."""
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        as_user: dict[str, Any] = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # called after the uid switch, so the setting survives it
            **as_user,
        )

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {code} before it was ready\n"
                    f"command: {' '.join(self.argv)}\nlog tail:\n{self.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready after {timeout:.0f} s\ncommand: {' '.join(self.argv)}\nlog tail:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """Send ``stop_signal`` to the process group, SIGKILL it after ``timeout`` s; idempotent."""
        # Signals go to the group (the daemon's children too) only while the leader is
        # unreaped, so the group id cannot belong to an unrelated process.
        if self.proc.poll() is None:
            self._signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout)
        self._log.close()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
