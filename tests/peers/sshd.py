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

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
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


PASSWORD_DIR = Path("/var/lib/opsagent-tests")


def machine_password(user: str) -> str:
    """A random password per test user and machine, made once and kept (0600, root only).

    Test sessions of several work trees run at once on one machine and share these system users:
    a fresh password per session would reset another session's password under its feet."""
    PASSWORD_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = PASSWORD_DIR / user
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another session may be writing it right now
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.1)
        raise RuntimeError(f"{path} stays empty") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(16) + "\n")
    return path.read_text().strip()


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


def _config(base: Path, port: int, host_key: Path, host: str = LOCALHOST, extra: str = "") -> Path:
    text = f"""
ListenAddress {host}
Port {port}
HostKey {host_key}
{extra}
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


def start_sshd(user: str = TEST_USER, host: str = LOCALHOST, netns: str | None = None, extra: str = "") -> SshServer:
    """sshd on ``host`` (127.0.0.1 by default; inside network namespace ``netns`` when given), with
    ``extra`` ``sshd_config`` lines (they come first, so they win over the defaults)."""
    if not SSHD.exists():
        pytest.fail(f"{SSHD} not found: {INSTALL_HINT}", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="opsagent-sshd-"))
    base.chmod(0o755)  # sshd reads authorized_keys with the user's rights
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    host_key = keygen(base / "host_ed25519", "opsagent-test-host")
    keygen(base / "other_host_ed25519", "opsagent-test-other-host")
    client_key = keygen(base / "client_ed25519", "opsagent-test-client")
    other_key = keygen(base / "stranger_ed25519", "opsagent-test-stranger")
    password = machine_password(user)
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
    (base / "known_hosts").write_text(f"[{host}]:{port} {pub[0]} {pub[1]}\n")
    (base / "wrong_known_hosts").write_text(f"[{host}]:{port} {other_pub[0]} {other_pub[1]}\n")
    config = _config(base, port, host_key, host, extra)
    argv = [str(SSHD), "-D", "-e", "-f", str(config)]
    if netns is None:
        daemon = Daemon("sshd", argv, base / "sshd.log", cwd=base)
        daemon.wait_ready(lambda: wait_port(port, timeout=0.2), timeout=30)
    else:  # `ip netns exec` execs sshd, so the Daemon's pid is sshd's; its port is not reachable from here
        daemon = Daemon("sshd", ["ip", "netns", "exec", netns, *argv], base / "sshd.log", cwd=base)
        daemon.wait_ready(lambda: "Server listening" in daemon.log_tail(), timeout=30)
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
        host=host,
    )


def restart_sshd(server: SshServer, host_key: Path, extra: str = "") -> SshServer:
    """Stop ``server`` and start sshd again on its port with another host key (and extra
    ``sshd_config`` lines, e.g. ``HostCertificate``): a host whose key changed."""
    server.stop()
    config = _config(server.base_dir, server.port, host_key, server.host, extra)
    argv = [str(SSHD), "-D", "-e", "-f", str(config)]
    daemon = Daemon("sshd", argv, server.base_dir / "sshd.log", cwd=server.base_dir)
    daemon.wait_ready(lambda: wait_port(server.port, timeout=0.2), timeout=30)
    return replace(server, daemon=daemon)


@contextlib.contextmanager
def running_sshd(extra: str = "") -> Iterator[SshServer]:
    """:func:`start_sshd` for the ``with`` block: stopped and its directory removed after it."""
    server = start_sshd(extra=extra)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshServer]:
    with running_sshd() as server:
        yield server


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


# -- sudo ---------------------------------------------------------------------------------------
SUDO = Path("/usr/bin/sudo")
VISUDO = Path("/usr/sbin/visudo")
SUDO_HINT = "install the Debian package `sudo` (bash scripts/test.sh does it)"
SUDO_NOPASSWD_USER = "opsagent-sudo-np"  # may run anything as root without a password
SUDO_PASSWORD_USER = "opsagent-sudo-pw"  # may run anything as root with its own password
SUDO_REFUSED_USER = "opsagent-sudo-no"  # may only run /bin/true: everything else is refused


@dataclass(frozen=True)
class SudoAccounts:
    """Three login users of ``server`` (same client key) and their sudo rights, from a drop-in."""

    server: SshServer
    nopasswd: str
    password: str
    refused: str
    password_files: dict[str, Path]  # user -> file holding its login (and sudo) password
    sudoers_file: Path


def sudoers_text(nopasswd: str, password: str, refused: str) -> str:
    # lecture off: the first-use lecture would otherwise go to stderr of the first sudo run.
    return (
        "# opsagent test suite (tests/peers/sshd.py); removed when the test session ends\n"
        f"Defaults:{nopasswd},{password},{refused} !lecture\n"
        f"{nopasswd} ALL=(ALL:ALL) NOPASSWD: ALL\n"
        f"{password} ALL=(ALL:ALL) ALL\n"
        f"{refused} ALL=(root) NOPASSWD: /bin/true\n"
    )


def install_sudoers(text: str) -> Path:
    """Write a drop-in under /etc/sudoers.d/ after `visudo -cf` accepted it (a broken file there
    would break sudo for the whole machine). No dot in the name: sudo skips such files."""
    for tool in (SUDO, VISUDO):
        if not tool.exists():
            pytest.fail(f"{tool} not found: {SUDO_HINT}", pytrace=False)
    candidate = Path(tempfile.mkdtemp(prefix="opsagent-sudoers-")) / "candidate"
    candidate.write_text(text)
    candidate.chmod(0o440)
    check = subprocess.run([str(VISUDO), "-cf", str(candidate)], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        pytest.fail(f"visudo rejected the test sudoers file: {check.stdout}{check.stderr}", pytrace=False)
    target = Path("/etc/sudoers.d") / f"opsagent-test-{secrets.token_hex(4)}"
    shutil.move(str(candidate), target)
    shutil.rmtree(candidate.parent, ignore_errors=True)
    return target


def add_login_user(server: SshServer, user: str) -> Path:
    """A user of ``server`` with the session's client key and a random password (in a 0600 file)."""
    password = machine_password(user)
    ensure_user(user, password)
    (server.base_dir / "authorized_keys" / user).write_text((server.base_dir / "client_ed25519.pub").read_text())
    (server.base_dir / "authorized_keys" / user).chmod(0o644)
    path = server.base_dir / f"password-{user}"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def sudo_accounts(sshd_server: SshServer) -> Iterator[SudoAccounts]:
    users = (SUDO_NOPASSWD_USER, SUDO_PASSWORD_USER, SUDO_REFUSED_USER)
    files = {user: add_login_user(sshd_server, user) for user in users}
    drop_in = install_sudoers(sudoers_text(*users))
    try:
        yield SudoAccounts(sshd_server, *users, password_files=files, sudoers_file=drop_in)
    finally:
        drop_in.unlink(missing_ok=True)
