"""A real Dovecot IMAP server for the session: IMAP (STARTTLS offered) and IMAPS on 127.0.0.1 and
free ports, one passwd-file user with a Maildir, a self-signed certificate with SAN IP:127.0.0.1.

Fixture:
    dovecot (session) -> Dovecot: .port (IMAP), .ssl_port (IMAPS), .cafile, .user / .password,
    .deliver(raw bytes) (doveadm save into INBOX), .clear() (expunge INBOX)
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.ports import LOCALHOST, free_port, port_open
from tests.peers.process import Daemon

INSTALL_HINT = "install the Debian package `dovecot-imapd` (bash scripts/test.sh does it)"
USER = "support"
PASSWORD = "Imap-s3cret-77"  # a throwaway test value
MAIL_UID, MAIL_GID = pwd.getpwnam("mail").pw_uid, grp.getgrnam("mail").gr_gid


def _conf(work: Path, port: int, ssl_port: int) -> str:
    return "\n".join([
        "protocols = imap",
        f"listen = {LOCALHOST}",
        f"base_dir = {work}/run",
        f"state_dir = {work}/state",
        f"log_path = {work}/dovecot.log",
        "disable_plaintext_auth = no",
        "auth_mechanisms = plain login",
        "mail_location = maildir:~/Maildir",
        "first_valid_uid = 8",
        "passdb {", "  driver = passwd-file", f"  args = scheme=PLAIN username_format=%n {work}/passwd", "}",
        "userdb {", "  driver = passwd-file", f"  args = username_format=%n {work}/passwd", "}",
        "service imap-login {",
        "  inet_listener imap {", f"    address = {LOCALHOST}", f"    port = {port}", "  }",
        "  inet_listener imaps {", f"    address = {LOCALHOST}", f"    port = {ssl_port}", "    ssl = yes", "  }",
        "}",
        "ssl = yes",
        f"ssl_cert = <{work}/cert.pem",
        f"ssl_key = <{work}/key.pem",
        "ssl_dh = </usr/share/dovecot/dh.pem",
        "",
    ])  # fmt: skip


@dataclass
class Dovecot:
    work: Path
    port: int
    ssl_port: int
    user: str = USER
    password: str = PASSWORD

    @property
    def cafile(self) -> Path:
        return self.work / "cert.pem"

    def deliver(self, raw: bytes) -> None:
        subprocess.run(["doveadm", "-c", str(self.work / "dovecot.conf"), "save", "-u", self.user],
                       input=raw, check=True, capture_output=True, timeout=30)  # fmt: skip

    def deliver_many(self, raws: list[bytes]) -> None:
        """Many mails at once, the way an MDA delivers: written to Maildir/tmp, moved into new/."""
        maildir = self.work / "home" / self.user / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(exist_ok=True)
        for n, raw in enumerate(raws):
            tmp = maildir / "tmp" / f"{time.time_ns()}.M{n}.opsagent-test"
            tmp.write_bytes(raw)
            os.chown(tmp, MAIL_UID, MAIL_GID)
            tmp.rename(maildir / "new" / tmp.name)
        for sub in ("tmp", "new", "cur"):
            os.chown(maildir / sub, MAIL_UID, MAIL_GID)

    def clear(self) -> None:
        subprocess.run(["doveadm", "-c", str(self.work / "dovecot.conf"), "expunge", "-u", self.user,
                        "mailbox", "INBOX", "all"], check=True, capture_output=True, timeout=30)  # fmt: skip


@contextlib.contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """Start Dovecot in a temp dir for the duration of the block (the fixture; bench/bench_mail.py)."""
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary is None or shutil.which("doveadm") is None or not Path("/usr/share/dovecot/dh.pem").exists():
        raise RuntimeError(f"`dovecot`/`doveadm` not found: {INSTALL_HINT}")
    work = Path(tempfile.mkdtemp(prefix="opsagent-dovecot-"))
    for sub in ("run", "state", "home/support/Maildir"):
        (work / sub).mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (work / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{MAIL_UID}:{MAIL_GID}::{work}/home/{USER}::\n")
    subprocess.run(["chown", "-R", "mail:mail", str(work / "home")], check=True)
    work.chmod(0o755)
    port, ssl_port = free_port(), free_port()
    (work / "dovecot.conf").write_text(_conf(work, port, ssl_port))
    # -F: stay in the foreground, so the fixture owns the process and its children
    daemon = Daemon("dovecot", [binary, "-F", "-c", str(work / "dovecot.conf")], work / "dovecot.out")
    try:
        daemon.wait_ready(lambda: port_open(port) and port_open(ssl_port), timeout=30)
        yield Dovecot(work, port, ssl_port)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    try:
        with running_dovecot() as server:
            yield server
    except RuntimeError as exc:
        if "not found" in str(exc):
            pytest.fail(str(exc), pytrace=False)
        raise
