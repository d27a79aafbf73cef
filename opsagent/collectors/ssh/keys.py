"""Private keys for SSH logins: read a key file (or key text), decrypt it with its passphrase, keep
the parsed key for reconnects.

Decoding is ``cryptography``'s: the OpenSSH format (``BEGIN OPENSSH PRIVATE KEY``, what ssh-keygen
writes by default) and PEM (PKCS#1 ``RSA``, SEC1 ``EC``, PKCS#8, encrypted or not), for Ed25519,
ECDSA and RSA keys. The passphrase goes to it as UTF-8 bytes (paramiko's ``PKey.from_path`` hands
a ``str`` through, which cryptography refuses: "password must be bytes"). As ``ssh`` does, a
passphrase given for a key that has none is ignored. A ``<key>-cert.pub`` beside a key file is
loaded as its user certificate, as ``ssh -i`` does.

Every failure is an :class:`SshFailure` with reason ``credentials``; its message never holds the
key text or the passphrase.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.secrets import Secret

_OPENSSH = b"-----BEGIN OPENSSH PRIVATE KEY-----"
CERT_SUFFIX = "-cert.pub"


class KeyCache:
    """Loaded private keys, so a reconnect does not parse its key again: loading an RSA key makes
    ``cryptography`` check the key's consistency, ~0.2 s of CPU for RSA 3072 here (signing with it
    costs ~1 ms), which a fleet reconnecting after a network outage would pay once per host.

    Keyed by digests only (never the key text or passphrase): a key file by its path, inode, size
    and mtime, so an edited or replaced file is read again; key text (a ``file:``/``env:``
    credential holding the key itself) by its SHA-256. Thread-safe; the oldest entry goes past
    ``size`` entries."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[Any, ...], paramiko.PKey] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, material: Secret, passphrase: Secret | None) -> paramiko.PKey:
        value = material.reveal()
        password = passphrase.reveal() if passphrase else None
        try:
            cache_key = self._cache_key(value, password)
        except OSError as exc:
            raise SshFailure("credentials", Outcome.FAILED, f"cannot read private key: {exc.strerror}") from None
        with self._lock:
            hit = self._keys.get(cache_key)
            if hit is not None:
                self._keys.move_to_end(cache_key)
                return hit
        key = load_private_key(value, password)
        with self._lock:
            self._keys[cache_key] = key
            while len(self._keys) > self.size:
                self._keys.popitem(last=False)
        return key

    @staticmethod
    def _cache_key(value: str, password: str | None) -> tuple[Any, ...]:
        secret = hashlib.sha256(password.encode()).digest() if password is not None else None
        if _is_key_text(value):
            return ("text", hashlib.sha256(value.encode()).digest(), secret)
        path = Path(value).expanduser()
        st = path.stat()  # OSError (missing, unreadable) is reported like a failed read
        cert = Path(str(path) + CERT_SUFFIX)
        cert_mtime = cert.stat().st_mtime_ns if cert.is_file() else None
        return ("file", str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, cert_mtime, secret)


def _is_key_text(value: str) -> bool:
    return "PRIVATE KEY-----" in value


def load_private_key(material: str, passphrase: str | None) -> paramiko.PKey:
    """A paramiko key from a key file path or the key text itself; SshFailure("credentials") when
    it cannot be read, decrypted or used."""
    cert: Path | None = None
    if _is_key_text(material):
        data = material.encode()
    else:
        path = Path(material).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _failure(f"cannot read private key: {exc.strerror}") from None
        cert = Path(str(path) + CERT_SUFFIX)
    key = to_paramiko(decrypt(data, passphrase))
    if cert is not None and cert.is_file():
        try:
            key.load_certificate(str(cert))
        except (OSError, ValueError, paramiko.SSHException) as exc:
            raise _failure(f"cannot load the key's certificate {cert.name}: {_first_line(exc)}") from None
    return key


def decrypt(data: bytes, passphrase: str | None) -> Any:
    """The private key object of ``data`` (OpenSSH or PEM format), decrypted with ``passphrase``."""
    password = passphrase.encode() if passphrase else None
    try:
        return _decode(data, password)
    except TypeError:
        # cryptography's TypeError means the passphrase does not fit the key's encryption state.
        if password is None:
            raise _failure("private key is encrypted and no passphrase is set") from None
    except ValueError as exc:
        if password is not None and _encrypted(data):
            raise _failure("cannot decrypt private key: wrong passphrase") from None
        raise _failure(f"cannot load private key: {_first_line(exc)}") from None
    except Exception as exc:  # cryptography's own UnsupportedAlgorithm and the like
        raise _failure(f"cannot load private key: {_first_line(exc)}") from None
    try:  # a passphrase for a key that has none: ignored, as ssh does
        return _decode(data, None)
    except (TypeError, ValueError) as exc:
        raise _failure(f"cannot load private key: {_first_line(exc)}") from None


def _decode(data: bytes, password: bytes | None) -> Any:
    if _OPENSSH in data:
        return serialization.load_ssh_private_key(data, password)
    return serialization.load_pem_private_key(data, password)


def _encrypted(data: bytes) -> bool:
    try:
        _decode(data, None)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def to_paramiko(key: Any) -> paramiko.PKey:
    """The paramiko key for a ``cryptography`` private key (Ed25519, ECDSA, RSA)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return paramiko.ECDSAKey(vals=(key, key.public_key()))
        except (ValueError, paramiko.SSHException) as exc:
            raise _failure(f"unsupported ECDSA key: {_first_line(exc)}") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # paramiko builds an Ed25519 key only from the OpenSSH format: hand it that, unencrypted.
        text = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        return paramiko.Ed25519Key(file_obj=io.StringIO(text))
    raise _failure(f"unsupported private key type {type(key).__name__} (use Ed25519, ECDSA or RSA)")


def _failure(message: str) -> SshFailure:
    return SshFailure("credentials", Outcome.FAILED, message)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
