"""known_hosts files read as OpenSSH reads them (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"). Pure logic.

A line is ``[marker] hostnames keytype base64-key [comment]``:

- ``marker``: none, ``@cert-authority`` (the key is a CA: host certificates it signed are trusted
  for the matching hosts) or ``@revoked`` (the key must never be accepted);
- ``hostnames``: comma-separated patterns with ``*`` and ``?`` wildcards and ``!`` negation (a
  negated match excludes the host from the line), ``[host]:port`` for a port other than 22, or
  one hashed name ``|1|base64(salt)|base64(HMAC-SHA1(salt, name))`` (``HashKnownHosts yes``);
- blank lines and ``#`` comments are skipped, and so is any line that cannot be read (unknown
  marker, missing field, bad base64, a key blob of another type): one bad line never makes the
  whole file unusable, as it does not for ``ssh``.

The name looked up for a host is ``host`` on port 22 and ``[host]:port`` on any other port, compared
case-insensitively, as OpenSSH does.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

CERT_AUTHORITY = "@cert-authority"
REVOKED = "@revoked"
_MARKERS = (CERT_AUTHORITY, REVOKED)
HASH_MAGIC = "|1|"


@dataclass(frozen=True)
class Entry:
    """One usable known_hosts line."""

    marker: str | None  # None, CERT_AUTHORITY or REVOKED
    patterns: str  # the hostnames field as written
    key_type: str  # e.g. ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256
    blob: bytes  # the public key in SSH wire format
    source: str  # "file:line", for messages

    def matches(self, name: str) -> bool:
        return host_matches(self.patterns, name)


def lookup_name(host: str, port: int) -> str:
    """The name known_hosts holds for ``host:port`` (``[host]:port`` unless the port is 22)."""
    return host if port == 22 else f"[{host}]:{port}"


def parse(text: str, source: str = "known_hosts") -> list[Entry]:
    """Every usable entry of a known_hosts file, in order."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = parse_line(line, f"{source}:{number}")
        if entry is not None:
            entries.append(entry)
    return entries


def parse_line(line: str, source: str = "known_hosts") -> Entry | None:
    """The entry of one line; None for a blank, comment or unreadable line."""
    fields = line.split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = None
    if fields[0].startswith("@"):
        if fields[0] not in _MARKERS:
            return None
        marker, fields = fields[0], fields[1:]
    if len(fields) < 3:
        return None
    patterns, key_type, encoded = fields[0], fields[1], fields[2]
    blob = _decode(encoded)
    if blob is None or blob_type(blob) != key_type:
        return None
    return Entry(marker, patterns, key_type, blob, source)


def _decode(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def blob_type(blob: bytes) -> str | None:
    """The key type named at the start of an SSH wire-format key (None if malformed)."""
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length == 0 or length > len(blob) - 4:
        return None
    try:
        return blob[4 : 4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def host_matches(patterns: str, name: str) -> bool:
    """Whether the hostnames field ``patterns`` covers ``name`` (OpenSSH's match_hostname)."""
    name = name.lower()
    if patterns.startswith(HASH_MAGIC):
        return _hashed_matches(patterns, name)
    positive = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _wildcard(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            positive = True
    return positive


def _wildcard(pattern: str, name: str) -> bool:
    # OpenSSH patterns know only * and ?: escape fnmatch's [ ] classes (used in "[host]:port").
    translated = "".join("[[]" if c == "[" else "[]]" if c == "]" else c for c in pattern.lower())
    return re.fullmatch(fnmatch.translate(translated), name, flags=re.DOTALL) is not None


def _hashed_matches(field: str, name: str) -> bool:
    parts = field[len(HASH_MAGIC) :].split("|")
    if len(parts) != 2:
        return False
    salt, digest = _decode(parts[0]), _decode(parts[1])
    if salt is None or digest is None:
        return False
    mine = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(mine, digest)


def hash_name(name: str, salt: bytes) -> str:
    """A hashed hostnames field for ``name`` (as ``ssh-keygen -H`` writes it)."""
    digest = hmac.new(salt, name.lower().encode(), hashlib.sha1).digest()
    return f"{HASH_MAGIC}{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class HostView:
    """The entries of some known_hosts files that apply to one host name."""

    keys: tuple[Entry, ...]  # plain entries
    authorities: tuple[Entry, ...]
    revoked: tuple[Entry, ...]

    @classmethod
    def of(cls, entries: Iterable[Entry], name: str) -> HostView:
        mine = [e for e in entries if e.matches(name)]
        return cls(
            tuple(e for e in mine if e.marker is None),
            tuple(e for e in mine if e.marker == CERT_AUTHORITY),
            tuple(e for e in mine if e.marker == REVOKED),
        )

    def is_revoked(self, blob: bytes) -> Entry | None:
        return next((e for e in self.revoked if e.blob == blob), None)

    def is_known(self, blob: bytes) -> Entry | None:
        return next((e for e in self.keys if e.blob == blob), None)

    def authority(self, blob: bytes) -> Entry | None:
        return next((e for e in self.authorities if e.blob == blob), None)

    def known_types(self) -> list[str]:
        return list(dict.fromkeys(e.key_type for e in self.keys))
