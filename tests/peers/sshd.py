"""A real OpenSSH server for the session, on 127.0.0.1 and a free port, and a test user.

Fixtures:
    sshd_server  (session)  -> SshServer: port, user, client key, password file, known_hosts
    silent_port  (session)  -> int: a port that accepts TCP connections and never speaks

The user ``opsagent-ssh`` is created when missing (``useradd``; needs root, as the whole suite
does); its password is random per session (for password-auth tests) and its authorized key is a
key generated for the session. sshd runs in the foreground under Popen (``-D -e``), with its own
host key, pid file and config in a temp dir, and is stopped with the session.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.ports import LOCALHOST, free_port, wait_port
from tests.peers.process import Daemon

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = "ssh-keygen"
TEST_USER = "opsagent-ssh"
INSTALL_HINT = "install the Debian package `openssh-server` (bash scripts/test.sh does it)"


@dataclass(frozen=True)
class SshServer:
    daemon: Daemon
    base_dir: Path
    port: int
    user: str
    client_key: Path  # authorized for ``user``
    other_key: Path  # a valid key that is NOT authorized
    password_file: Path  # the user's password (for a file: credential reference)
    known_hosts: Path  # the server's real host key
    wrong_known_hosts: Path  # another key for the same [host]:port
    host: str = LOCALHOST

    def stop(self) -> None:
        self.daemon.stop()


def keygen(path: Path, comment: str) -> Path:
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path


def ensure_user(name: str, password: str) -> None:
    """A login user with /bin/sh and the given password (sshd with UsePAM no refuses locked accounts)."""
    if subprocess.run(["id", name], capture_output=True, check=False).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
            check=True,
            capture_output=True,
            timeout=30,
        )
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True, timeout=30)


def _config(base: Path, port: int, host_key: Path) -> Path:
    text = f"""
ListenAddress {LOCALHOST}
Port {port}
HostKey {host_key}
PidFile {base}/sshd.pid
AuthorizedKeysFile {base}/authorized_keys/%u
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
UseDNS no
MaxStartups 500:30:1000
MaxSessions 100
MaxAuthTries 10
LoginGraceTime 30
LogLevel INFO
Subsystem sftp internal-sftp
"""
    path = base / "sshd_config"
    path.write_text(text)
    return path


def start_sshd(user: str = TEST_USER) -> SshServer:
    if not SSHD.exists():
        pytest.fail(f"{SSHD} not found: {INSTALL_HINT}", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="opsagent-sshd-"))
    base.chmod(0o755)  # sshd reads authorized_keys with the user's rights
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    host_key = keygen(base / "host_ed25519", "opsagent-test-host")
    keygen(base / "other_host_ed25519", "opsagent-test-other-host")
    client_key = keygen(base / "client_ed25519", "opsagent-test-client")
    other_key = keygen(base / "stranger_ed25519", "opsagent-test-stranger")
    password = secrets.token_urlsafe(16)
    ensure_user(user, password)
    (base / "password").write_text(password + "\n")
    (base / "password").chmod(0o600)
    keys_dir = base / "authorized_keys"
    keys_dir.mkdir(mode=0o755)
    (keys_dir / user).write_text((base / "client_ed25519.pub").read_text())
    (keys_dir / user).chmod(0o644)
    port = free_port()
    pub = (base / "host_ed25519.pub").read_text().split()
    other_pub = (base / "other_host_ed25519.pub").read_text().split()
    (base / "known_hosts").write_text(f"[{LOCALHOST}]:{port} {pub[0]} {pub[1]}\n")
    (base / "wrong_known_hosts").write_text(f"[{LOCALHOST}]:{port} {other_pub[0]} {other_pub[1]}\n")
    config = _config(base, port, host_key)
    daemon = Daemon("sshd", [str(SSHD), "-D", "-e", "-f", str(config)], base / "sshd.log", cwd=base)
    daemon.wait_ready(lambda: wait_port(port, timeout=0.2), timeout=30)
    return SshServer(
        daemon=daemon,
        base_dir=base,
        port=port,
        user=user,
        client_key=client_key,
        other_key=other_key,
        password_file=base / "password",
        known_hosts=base / "known_hosts",
        wrong_known_hosts=base / "wrong_known_hosts",
    )


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshServer]:
    server = start_sshd()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


class SilentServer:
    """Accepts TCP connections and never sends a byte (an SSH server that hangs before its banner)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOCALHOST, 0))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-sshd", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self.sock.close()


@pytest.fixture(scope="session")
def silent_port() -> Iterator[int]:
    server = SilentServer()
    try:
        yield server.port
    finally:
        server.close()
