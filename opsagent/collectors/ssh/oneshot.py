"""One command (or script) on a new channel of a pooled SSH transport, for runbook ``ssh`` steps.

The collector keeps a long-lived shell per host (session.py); a runbook step instead wants a fresh
``sh`` per step with its own exit status, optionally under ``sudo``. Host-key checking, credentials
and reconnects stay in :class:`opsagent.collectors.ssh.connection.Pool`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import paramiko

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh.batch import TIMEOUT, guarded_script
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.session import BatchKilled, remote_seconds
from opsagent.secrets import Secret


@dataclass
class BatchOutput:
    stdout: str
    stderr: str
    exit_status: int


@dataclass
class _Reader:
    deadline: float
    max_bytes: int
    out: list[bytes] = field(default_factory=list)
    err: list[bytes] = field(default_factory=list)
    size: int = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def take_stderr(self, chan: paramiko.Channel) -> None:
        while chan.recv_stderr_ready():
            self._add(self.err, chan.recv_stderr(65536))

    def _add(self, into: list[bytes], data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise SshFailure("output", Outcome.FAILED, f"command output exceeds {self.max_bytes} bytes")
        into.append(data)


SUDO_PROMPT = "[opsagent-sudo-7f3a] "
TIMEOUT_MARK = TIMEOUT.encode()
_READY = b"@@opsagent-ready@@\n"


def run_batch(
    transport: paramiko.Transport,
    script: str,
    *,
    timeout: float,
    max_bytes: int,
    sudo: bool = False,
    sudo_password: Secret | None = None,
) -> BatchOutput:
    """Run ``script`` with ``sh`` on one new channel of ``transport``; output decoded as UTF-8."""
    reader = _Reader(time.monotonic() + timeout, max_bytes)
    chan = transport.open_session(timeout=min(timeout, 30.0))
    try:
        if sudo and sudo_password is not None:
            chan.exec_command(f"sudo -S -p '{SUDO_PROMPT}' sh -c 'echo @@opsagent-ready@@; exec sh'")
            _sudo_handshake(chan, reader, sudo_password)
        else:
            chan.exec_command("sudo -n sh" if sudo else "sh")
        chan.sendall(guarded_script(script, remote_seconds(reader.remaining())).encode())
        chan.shutdown_write()
        _read_all(chan, reader)
        stdout = b"".join(reader.out)
        if TIMEOUT_MARK in stdout[-2 * len(TIMEOUT_MARK) :]:
            raise BatchKilled("command batch")  # the watchdog killed it on the host
        if not chan.status_event.wait(max(reader.remaining(), 0.1)):
            raise TimeoutError("no exit status")
        reader.take_stderr(chan)
        return BatchOutput(
            stdout.decode("utf-8", "replace"),
            b"".join(reader.err).decode("utf-8", "replace"),
            chan.exit_status,
        )
    finally:
        chan.close()


def _read_all(chan: paramiko.Channel, reader: _Reader) -> None:
    while True:
        left = reader.remaining()
        if left <= 0:
            raise TimeoutError("command batch")
        chan.settimeout(min(left, 0.5))  # short slices: stderr is drained between them
        try:
            data = chan.recv(65536)
        except TimeoutError:
            reader.take_stderr(chan)
            continue
        if not data:
            return
        reader._add(reader.out, data)


def _sudo_handshake(chan: paramiko.Channel, reader: _Reader, password: Secret) -> None:
    """sudo either prompts on stderr (answer it once) or starts the shell, which says it is ready.
    The password is only ever written to sudo's prompt, never into the script's stdin."""
    answered = False
    head = b""
    while _READY not in head:
        left = reader.remaining()
        if left <= 0:
            raise TimeoutError("sudo")
        if chan.recv_stderr_ready():
            reader._add(reader.err, chan.recv_stderr(65536))
            text = b"".join(reader.err).decode("utf-8", "replace")
            if SUDO_PROMPT.strip() in text:
                if answered:
                    raise SshFailure("sudo", Outcome.FAILED, "sudo refused the password")
                reader.err.clear()
                chan.sendall((password.reveal() + "\n").encode())
                answered = True
            continue
        if chan.exit_status_ready() and not chan.recv_ready():
            raise SshFailure("sudo", Outcome.FAILED, "sudo failed: " + b"".join(reader.err).decode()[:200])
        if chan.recv_ready():
            head += chan.recv(len(_READY) - len(head) if len(head) < len(_READY) else 1)
            continue
        chan.status_event.wait(0.05)
