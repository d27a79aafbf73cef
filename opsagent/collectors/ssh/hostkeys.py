"""The one host-key policy of every SSH path (collector, runbook ``ssh`` steps, netmiko config backup).

OpenSSH's behaviour, on paramiko:

- known_hosts files are read with :mod:`knownhosts` (markers, patterns, hashed names; bad lines
  skipped), never with paramiko's ``HostKeys``, which fails on ``@cert-authority`` lines;
- a key listed ``@revoked`` for the host, or a certificate signed by a revoked CA, is refused
  (reason ``hostkey_revoked``);
- a host certificate signed by a ``@cert-authority`` key whose patterns match the host is
  accepted when it is a host certificate, valid now, names the host among its principals (or names
  none) and carries no critical option; paramiko verifies that the server holds the certified
  key, this module verifies the certificate (``cryptography``'s SSH certificate support). A
  certificate that fails these checks is judged by its plain key, as ``ssh`` does;
- a plain key listed for the host is accepted; another key of a host that has keys listed is
  refused (``hostkey_mismatch``);
- a host with no key listed is refused (``hostkey_unknown``) unless ``accept_new`` (the
  ``accept_unknown_host_key`` option): then, as ``StrictHostKeyChecking accept-new``, its key is
  recorded in opsagent's own known_hosts file (``$OPSAGENT_HOME/known_hosts`` by default) and
  every later connection is held to it.

The host-key algorithms offered are ordered as ``ssh`` orders them: certificate algorithms first
when a CA is listed for the host, then the algorithms of the keys listed for it, so a server with
several host keys shows the one we know.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh import knownhosts
from opsagent.collectors.ssh.errors import SshFailure

CERT_SUFFIX = "-cert-v01@openssh.com"
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")


def default_pin_file() -> Path:
    """opsagent's own known_hosts file: ``$OPSAGENT_HOME/known_hosts`` (``~/.opsagent/known_hosts``)."""
    return Path(os.environ.get("OPSAGENT_HOME", "~/.opsagent")).expanduser() / "known_hosts"


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class _FileCache:
    """Parsed known_hosts files, read again when their size, mtime or inode changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple[int, int, int], list[knownhosts.Entry]]] = {}

    def entries(self, paths: tuple[Path, ...]) -> list[knownhosts.Entry]:
        out: list[knownhosts.Entry] = []
        for path in paths:
            out.extend(self._file(path))
        return out

    def _file(self, path: Path) -> list[knownhosts.Entry]:
        try:
            st = path.stat()
        except OSError:
            return []  # a missing file is skipped, as ssh does
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        key = str(path)
        with self._lock:
            hit = self._files.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        entries = knownhosts.parse(text, str(path))
        with self._lock:
            self._files[key] = (stamp, entries)
        return entries


_FILES = _FileCache()
_PIN_LOCK = threading.Lock()


@dataclass(frozen=True)
class HostKeyPolicy:
    """How host keys of one endpoint are checked (see the module text)."""

    host: str
    port: int
    known_hosts: tuple[str, ...] = DEFAULT_KNOWN_HOSTS
    accept_new: bool = False
    pin_file: Path | None = None  # None: default_pin_file()

    @property
    def name(self) -> str:
        return knownhosts.lookup_name(self.host, self.port)

    def _pins(self) -> Path:
        return self.pin_file if self.pin_file is not None else default_pin_file()

    def files(self) -> tuple[Path, ...]:
        return (*(Path(p).expanduser() for p in self.known_hosts), self._pins())

    def view(self) -> knownhosts.HostView:
        return knownhosts.HostView.of(_FILES.entries(self.files()), self.name)

    # -- algorithm order ---------------------------------------------------------------------
    def preferred(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """``default`` (paramiko's host-key algorithms) reordered as ssh orders them."""
        view = self.view()
        first: list[str] = []
        if view.authorities:
            first += [a for a in default if a.endswith(CERT_SUFFIX)]
        for key_type in view.known_types():
            algorithms = ("rsa-sha2-512", "rsa-sha2-256") if key_type == "ssh-rsa" else (key_type,)
            first += [a for a in algorithms if a in default and a not in first]
        return (*first, *(a for a in default if a not in first))

    def transport_factory(self) -> Callable[..., paramiko.Transport]:
        def make(sock: Any, **kwargs: Any) -> paramiko.Transport:
            transport = _Transport(sock, **kwargs)
            transport.host_key_policy = self
            return transport

        return make

    # -- the check -----------------------------------------------------------------------------
    def verify(self, key: paramiko.PKey, negotiated: str) -> None:
        """Accept the server's ``key`` (negotiated as algorithm ``negotiated``) or raise SshFailure."""
        plain = key.asbytes()
        view = self.view()
        revoked = view.is_revoked(plain)
        cert_problem = ""
        if negotiated.endswith(CERT_SUFFIX) and key.public_blob is not None:
            cert = _certificate(key.public_blob.key_blob)
            if cert is None:
                cert_problem = "its host certificate cannot be read"
            else:
                ca = _ca_blob(cert)
                revoked = revoked or view.is_revoked(ca)
                if revoked is None:
                    cert_problem = _certificate_problem(cert, self.host, view.authority(ca) is not None)
                    if not cert_problem:
                        return
        if revoked is not None:
            raise SshFailure(
                "hostkey_revoked",
                Outcome.FAILED,
                f"host key of {self.host}:{self.port} ({fingerprint(plain)}) is marked @revoked in {revoked.source}: "
                "connection refused",
            )
        if view.is_known(plain) is not None:
            return
        if view.keys:
            raise self._mismatch(plain, view, cert_problem)
        if not self.accept_new:
            raise self._unknown(plain, cert_problem)
        self._pin(key)

    def _pin(self, key: paramiko.PKey) -> None:
        """Record a first-seen key (accept-new); a key recorded meanwhile by another thread or
        process wins, and a different one is then a mismatch."""
        plain, path = key.asbytes(), self._pins()
        with _PIN_LOCK:
            view = self.view()
            if view.is_known(plain) is not None:
                return
            if view.keys:
                raise self._mismatch(plain, view, "")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                line = f"{self.name} {key.get_name()} {base64.b64encode(plain).decode()}\n"
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as out:
                    out.write(line)
            except OSError as exc:
                raise SshFailure(
                    "hostkey_unknown",
                    Outcome.FAILED,
                    f"host key of {self.host}:{self.port} is new and cannot be recorded in {path}: {exc.strerror}",
                ) from None

    def _mismatch(self, plain: bytes, view: knownhosts.HostView, cert_problem: str) -> SshFailure:
        listed = ", ".join(e.source for e in view.keys[:3])
        why = f"; {cert_problem}" if cert_problem else ""
        return SshFailure(
            "hostkey_mismatch",
            Outcome.FAILED,
            f"host key of {self.host}:{self.port} ({fingerprint(plain)}) does not match the key known in {listed}"
            f"{why}: possible man-in-the-middle, connection refused",
        )

    def _unknown(self, plain: bytes, cert_problem: str) -> SshFailure:
        why = f" ({cert_problem})" if cert_problem else ""
        files = ", ".join(str(p) for p in self.files())
        return SshFailure(
            "hostkey_unknown",
            Outcome.FAILED,
            f"host key of {self.host}:{self.port} ({fingerprint(plain)}) is not in known_hosts{why} ({files}); add it "
            "with ssh-keyscan, or set accept_unknown_host_key: true to record it on first contact",
        )


def _certificate(blob: bytes) -> SSHCertificate | None:
    key_type = knownhosts.blob_type(blob)
    if key_type is None:
        return None
    try:
        identity = serialization.load_ssh_public_identity(key_type.encode() + b" " + base64.b64encode(blob))
    except (ValueError, TypeError):  # malformed, or an algorithm cryptography lacks
        return None
    return identity if isinstance(identity, SSHCertificate) else None


def _ca_blob(cert: SSHCertificate) -> bytes:
    text = cert.signature_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(text.split()[1])


def _certificate_problem(cert: SSHCertificate, host: str, trusted_ca: bool) -> str:
    """Why ``cert`` does not vouch for ``host`` ('' when it does), as ssh checks a host certificate."""
    if not trusted_ca:
        return "its host certificate is signed by no @cert-authority listed for it"
    if cert.type != SSHCertificateType.HOST:
        return "its certificate is not a host certificate"
    try:
        cert.verify_cert_signature()
    except (InvalidSignature, ValueError, TypeError):
        return "its host certificate has a bad signature"
    now = int(time.time())
    if not cert.valid_after <= now < cert.valid_before:
        return "its host certificate is expired or not yet valid"
    principals = {p.decode("utf-8", "replace").lower() for p in cert.valid_principals}
    if principals and host.lower() not in principals:
        return f"its host certificate is not valid for {host}"
    if cert.critical_options:
        return "its host certificate carries critical options"
    return ""


# Offered first, when this paramiko has them (3.5 and later) and not disabled: OpenSSH's AES-GCM. Its
# tag is checked inside OpenSSL; with aes-ctr, paramiko's reader thread computes an HMAC per packet and
# compares it byte by byte in Python (~0.1 ms of client CPU per poll of the `linux` profile,
# bench/bench_ssh_serve.py). Both are in OpenSSH's default list; a server without GCM negotiates the
# next cipher of paramiko's usual order, as before.
AEAD_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def aead_first(default: tuple[str, ...]) -> tuple[str, ...]:
    """``default`` (paramiko's cipher order) with AES-GCM moved to the front."""
    first = tuple(c for c in AEAD_FIRST if c in default)
    return (*first, *(c for c in default if c not in first))


class _Transport(paramiko.Transport):  # type: ignore[misc]
    """The paramiko transport of every SSH path: host-key algorithms in the order its policy gives,
    AES-GCM first among the ciphers."""

    host_key_policy: HostKeyPolicy | None = None

    @property
    def preferred_keys(self) -> tuple[str, ...]:
        default: tuple[str, ...] = tuple(super().preferred_keys)
        return default if self.host_key_policy is None else self.host_key_policy.preferred(default)

    @property
    def preferred_ciphers(self) -> tuple[str, ...]:
        return aead_first(tuple(super().preferred_ciphers))


class MissingKeyCheck(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Installed on a client whose own host-key table stays empty, so paramiko hands every server
    key here: the policy decides (accept, pin, or raise SshFailure)."""

    def __init__(self, policy: HostKeyPolicy) -> None:
        self.policy = policy

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        transport = client.get_transport()
        negotiated = str(getattr(transport, "host_key_type", "") or key.get_name())
        self.policy.verify(key, negotiated)


def install(client: paramiko.SSHClient, policy: HostKeyPolicy) -> dict[str, Any]:
    """Put ``policy`` on ``client``; returns the extra ``connect()`` keyword arguments it needs."""
    client.set_missing_host_key_policy(MissingKeyCheck(policy))
    return {"transport_factory": policy.transport_factory()}


class PolicyClient(paramiko.SSHClient):  # type: ignore[misc]
    """An SSHClient under ``policy`` for code that calls ``connect()`` itself (netmiko)."""

    def __init__(self, policy: HostKeyPolicy) -> None:
        super().__init__()
        self._extra = install(self, policy)

    def connect(self, *args: Any, **kwargs: Any) -> None:
        super().connect(*args, **{**kwargs, **self._extra})
