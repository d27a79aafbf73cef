"""A long-lived remote shell on one SSH channel: the poll program is sent once, each poll is one line.

Blocking code (the collector runs it in worker threads); every read has a deadline. A session that
timed out, overflowed or lost its shell is closed by the caller and a new one started next poll.
Secrets: a sudo password is written only to the channel (to sudo's prompt, or to the program's one
``read``), never into the program text, a command line, an exception or a log.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import NoReturn

import paramiko

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh.batch import FAILED, MARK, READY, TIMEOUT, WANT_PASSWORD, build_program
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.options import Check
from opsagent.secrets import Secret

SUDO_PROMPT = "[opsagent-sudo-7f3a] "
_SUDO_READY = b"@@opsagent-sudo-ready@@\n"
_FAILED = FAILED.encode()
_SLICE = 0.5  # seconds per blocking recv: stderr is drained between slices


class SessionEnded(Exception):
    """The remote shell went away (EOF) before it answered."""


class BatchKilled(TimeoutError):
    """The poll ran past its time and its watchdog killed it on the host (shell, checks and all)."""


def remote_seconds(timeout: float) -> int:
    """Whole seconds the host's watchdog gives a poll that we wait ``timeout`` for: a second less,
    so the kill and its marker arrive before we give up (``sleep`` takes whole seconds everywhere)."""
    return max(1, int(timeout) - 1)


@dataclass(frozen=True)
class Plan:
    """What a session runs: the checks and how they get root. Hashable; the program text is built
    once per plan (the collector caches plans per profile and options)."""

    checks: tuple[Check, ...]
    sudo: bool  # the whole shell runs as root
    check_sudo_password: bool  # `sudo: true` checks get the password through the program's variable
    program: str = field(init=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        program = build_program(self.checks, as_root=self.sudo, password=self.check_sudo_password)
        object.__setattr__(self, "program", program)

    def __hash__(self) -> int:
        return hash((tuple(c.name for c in self.checks), self.sudo, self.check_sudo_password, self.program))


@dataclass
class Output:
    stdout: str
    stderr: str


@dataclass
class _Reader:
    chan: paramiko.Channel
    deadline: float
    max_bytes: int
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)

    def drain_stderr(self) -> None:
        while self.chan.recv_stderr_ready():
            self.err += self.chan.recv_stderr(65536)
            self._check_size()

    def _check_size(self) -> None:
        if len(self.out) + len(self.err) > self.max_bytes:
            raise SshFailure("output", Outcome.FAILED, f"command output exceeds {self.max_bytes} bytes")

    def until(self, marker: bytes, what: str) -> None:
        """Read stdout until it ends with ``marker`` (the remote side then waits for us)."""
        while not self.out.endswith(marker):
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(what)
            self.chan.settimeout(min(left, _SLICE))
            try:
                data = self.chan.recv(65536)
            except TimeoutError:
                self.drain_stderr()
                continue
            if not data:
                self.drain_stderr()
                raise SessionEnded(what)
            self.out += data
            self._check_size()
        self.drain_stderr()

    def stderr_until(self, marker: bytes) -> None:
        """Wait (within the deadline) for ``marker`` on stderr: it follows all of this poll's stderr.
        Usually already there; a shell that lost its stderr only costs the deadline's rest, once."""
        while marker not in self.err:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return
            self.chan.settimeout(min(left, _SLICE))
            try:
                data = self.chan.recv_stderr(65536)
            except TimeoutError:
                continue
            if not data:
                return
            self.err += data
            self._check_size()

    def stderr_text(self) -> str:
        return self.err.decode("utf-8", "replace")


class ShellSession:
    def __init__(self, chan: paramiko.Channel, plan: Plan, transport: paramiko.Transport) -> None:
        self.chan = chan
        self.plan = plan
        self.transport = transport
        self.seq = 0
        self.lock = threading.Lock()

    @classmethod
    def start(
        cls,
        transport: paramiko.Transport,
        plan: Plan,
        *,
        timeout: float,
        max_bytes: int,
        sudo_password: Secret | None,
    ) -> ShellSession:
        """Open a channel, start ``sh`` (as root when the plan says so), send the program and wait
        until it is ready for requests."""
        reader = _Reader(transport.open_session(timeout=min(timeout, 30.0)), time.monotonic() + timeout, max_bytes)
        chan = reader.chan
        try:
            if plan.sudo and sudo_password is not None:
                chan.exec_command(f"sudo -S -p '{SUDO_PROMPT}' sh -c 'echo @@opsagent-sudo-ready@@; exec sh'")
                _sudo_handshake(reader, sudo_password)
            else:
                chan.exec_command("sudo -n sh" if plan.sudo else "sh")
            _send(reader, plan.program.encode(), plan)
            if plan.check_sudo_password:
                _until(reader, WANT_PASSWORD.encode(), "start", plan)
                _send(reader, ((sudo_password.reveal() if sudo_password else "") + "\n").encode(), plan)
            _until(reader, READY.encode(), "start", plan)
        except BaseException:
            chan.close()
            raise
        return cls(chan, plan, transport)

    def poll(self, *, timeout: float, max_bytes: int) -> Output:
        with self.lock:
            self.seq += 1
            reader = _Reader(self.chan, time.monotonic() + timeout, max_bytes)
            reader.drain_stderr()
            reader.err.clear()  # late stderr of the previous poll
            self.chan.sendall(f"poll {self.seq} {remote_seconds(timeout)}\n".encode())
            try:
                reader.until(f"{MARK} done {self.seq}\n".encode(), "command batch")
            except SessionEnded:
                if TIMEOUT.encode() in reader.out:
                    raise BatchKilled("command batch") from None
                raise
            stderr_end = f"{MARK} stderr {self.seq}\n".encode()
            if _FAILED in reader.out:  # the program closes stderr only after a failed check
                reader.stderr_until(stderr_end)
            return Output(reader.out.decode("utf-8", "replace"), reader.err.replace(stderr_end, b"").decode())

    def alive(self) -> bool:
        return not self.chan.closed and not self.chan.exit_status_ready()

    def close(self) -> None:
        self.chan.close()


def _send(reader: _Reader, data: bytes, plan: Plan) -> None:
    try:
        reader.chan.sendall(data)
    except OSError:  # the shell (or sudo) already exited and closed the channel: say why
        reader.drain_stderr()
        _ended(reader, plan)


def _until(reader: _Reader, marker: bytes, what: str, plan: Plan) -> None:
    try:
        reader.until(marker, what)
    except SessionEnded:
        _ended(reader, plan)


def _ended(reader: _Reader, plan: Plan) -> NoReturn:
    first = sudo_complaint(reader.stderr_text()) if plan.sudo else ""
    if not first:
        lines = reader.stderr_text().strip().splitlines()
        first = lines[-1][:200] if lines else ""
    if plan.sudo:
        raise SshFailure("sudo", Outcome.FAILED, f"sudo refused to start a root shell: {first or 'no message'}")
    raise SshFailure("command", Outcome.FAILED, f"the remote shell exited at start: {first or 'no message'}")


def sudo_complaint(stderr: str) -> str:
    """sudo's own last complaint in ``stderr`` ('' if none). sudo never echoes the password."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip().startswith(("sudo:", "Sorry,"))]
    return lines[-1][:200] if lines else ""


def _sudo_handshake(reader: _Reader, password: Secret) -> None:
    """sudo either prompts on stderr (answer it once) or starts the shell, which says it is ready."""
    chan, answered = reader.chan, False
    while not reader.out.endswith(_SUDO_READY):
        if time.monotonic() > reader.deadline:
            raise TimeoutError("sudo")
        if chan.recv_stderr_ready():
            reader.err += chan.recv_stderr(65536)
            if SUDO_PROMPT.strip().encode() in reader.err:
                if answered:
                    raise SshFailure("sudo", Outcome.FAILED, "sudo refused the password")
                reader.err.clear()
                chan.sendall((password.reveal() + "\n").encode())
                answered = True
            continue
        if chan.recv_ready():
            # Byte by byte up to the ready line: nothing after it may be consumed here.
            reader.out += chan.recv(1)
            continue
        if chan.exit_status_ready():
            text = reader.stderr_text().strip()
            reason = "sudo refused the password" if answered else f"sudo failed: {text[:200] or 'no message'}"
            raise SshFailure("sudo", Outcome.FAILED, reason)
        chan.status_event.wait(0.05)
    reader.out.clear()
