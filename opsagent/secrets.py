"""Credential references: ``env:NAME`` and ``file:PATH``.

The inventory and the store only ever hold the *reference*. The value is read at the moment a
transport needs it and wrapped in :class:`Secret`, whose repr/str never show it, so it cannot slip
into a log line, an exception message, a report or ``/metrics`` by accident.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from opsagent.errors import SecretError

log = logging.getLogger(__name__)
_REF = re.compile(r"^(?P<scheme>env|file):(?P<target>\S.*)$")

# Credential fields whose values are secret: a plain-text value there is refused at load time.
_SENSITIVE = (
    "password",
    "passphrase",
    "secret",
    "community",
    "token",
    "auth_key",
    "priv_key",
    "authkey",
    "privkey",
    "api_key",
    "apikey",
)

REDACTED = "***"


# Inventory vars whose name ends like this hold secrets (`snmp_community`, `db_password`,
# `ansible_become_pass`), while `token_ttl` or `ssh_key_file` do not.
_SENSITIVE_VAR = re.compile(
    r"(^|[_\-.])(password|passwd|pass|pwd|passphrase|secret|community|token|api_?key|auth_?key|priv_?key|private_key)"
    r"s?$",
    re.IGNORECASE,
)
# A URL with a password (``https://user:pw@host``, ``postgresql://u:pw@h/db``) or a libpq DSN naming one.
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*:[^/@\s]+@")
_DSN_PASSWORD = re.compile(r"(^|\s)password\s*=\s*('[^']+'|[^\s']+)", re.IGNORECASE)
_DSN_KEY = re.compile(r"(^|\s)(host|hostaddr|user|dbname|port|service|sslmode)\s*=", re.IGNORECASE)  # a libpq DSN
PLAIN_REFUSED = "plain-text secrets are refused; use 'env:NAME' or 'file:PATH'"
URL_REFUSED = "a URL or DSN holding a password is refused; give the password as a credential reference"


def check_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """Refuse plain-text secrets in vars; references and Jinja indirections (``{{ vault_x }}``) pass."""
    result: dict[str, Any] = check_plain_secrets(variables)
    return result


def is_credential_key(name: str) -> bool:
    """A key whose value is a secret (``password``, ``auth_pass``, ``api_tokens``, ``api_token_ref``), by name."""
    stem = name.lower().removesuffix("_ref").removesuffix("_refs")
    return _SENSITIVE_VAR.search(stem) is not None


def _plain(value: object) -> bool:
    return isinstance(value, str) and bool(value) and not is_reference(value) and "{{" not in value


def has_password(value: object) -> bool:
    """A URL with ``user:password@`` or a key=value DSN with ``password=``."""
    if not isinstance(value, str) or "{{" in value:
        return False
    if _URL_PASSWORD.match(value.strip()) is not None:
        return True
    return _DSN_PASSWORD.search(value) is not None and _DSN_KEY.search(value) is not None


Loc = tuple[str | int, ...]


def plain_secrets(data: Any, loc: Loc = (), sensitive: bool = False) -> Iterator[tuple[Loc, str]]:
    """(location, message) of every plain-text secret in loaded data, whatever the field is called:
    a string under a credential-like key (or inside a mapping/list under one), or a URL/DSN with a password."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from plain_secrets(value, (*loc, key), sensitive or (isinstance(key, str) and is_credential_key(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from plain_secrets(item, (*loc, index), sensitive)
    elif has_password(data):
        yield loc, URL_REFUSED
    elif sensitive and _plain(data):
        yield loc, PLAIN_REFUSED


def check_plain_secrets(data: Any, what: str = "") -> Any:
    """A pydantic validator body: refuse the first plain-text secret found, naming where it is."""
    for loc, message in plain_secrets(data):
        where = ".".join(str(part) for part in ((what,) if what else ()) + loc)
        raise ValueError(f"{where}: {message}" if where else message)
    return data


def is_sensitive(field: str) -> bool:
    name = field.lower()
    return any(word in name for word in _SENSITIVE)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and _REF.match(value) is not None


_WARNED: set[str] = set()


def shared_mode(path: Path) -> int | None:
    """The permission bits of a secret file readable or writable by group/other (None when private)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def _warn_if_shared(path: Path) -> None:
    """As ssh does for private keys (it refuses them); we warn, once per file per process."""
    mode = shared_mode(path)
    if mode is not None and str(path) not in _WARNED:
        _WARNED.add(str(path))
        log.warning("secret file %s is accessible by group/other (mode %04o): chmod 600 it", path, mode)


class Secret:
    """A resolved secret value. Only :meth:`reveal` gives the value; everything else redacts."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretRef:
    """A reference to a secret, safe to store, print and export."""

    __slots__ = ("scheme", "target")

    def __init__(self, scheme: str, target: str) -> None:
        self.scheme = scheme
        self.target = target

    @classmethod
    def parse(cls, text: str, base_dir: Path | None = None) -> SecretRef:
        match = _REF.match(text.strip())
        if not match:
            raise ValueError("must be a credential reference 'env:NAME' or 'file:PATH'")
        scheme, target = match["scheme"], match["target"]
        if scheme == "file" and base_dir is not None and not Path(target).is_absolute():
            # Stored refs must not depend on the directory a later command runs from.
            target = str((base_dir / target).resolve())
        return cls(scheme, target)

    def resolve(self, environ: Mapping[str, str] | None = None) -> Secret:
        if self.scheme == "env":
            env = os.environ if environ is None else environ
            if self.target not in env:
                raise SecretError(f"environment variable {self.target} (from {self}) is not set")
            return Secret(env[self.target])
        try:
            path = Path(self.target)
            _warn_if_shared(path)
            return Secret(path.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise SecretError(f"cannot read {self}: {exc.strerror or type(exc).__name__}") from None

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"

    def __repr__(self) -> str:
        return f"SecretRef({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any) -> SecretRef:
            if isinstance(value, SecretRef):
                return value
            if not isinstance(value, str):
                raise ValueError("must be a credential reference 'env:NAME' or 'file:PATH'")
            return cls.parse(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )


class Redactor:
    """Every secret value a run may touch, registered before it starts; replaces them in any text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []

    def add(self, *secrets: Secret | str | None) -> None:
        fresh = False
        for secret in secrets:
            value = secret.reveal() if isinstance(secret, Secret) else secret
            if value and value not in self._values:
                self._values.add(value)
                fresh = True
        if fresh:  # the longest first: a secret containing another is replaced whole
            self._ordered = sorted(self._values, key=len, reverse=True)

    def add_ref(self, ref: SecretRef | str, environ: Mapping[str, str] | None = None) -> None:
        """Resolve a reference and register its value; one that does not resolve holds nothing to hide."""
        try:
            parsed = ref if isinstance(ref, SecretRef) else SecretRef.parse(ref)
            self.add(parsed.resolve(environ))
        except (SecretError, ValueError):
            return

    def __len__(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def redact_data(self, data: Any) -> Any:
        """Strings inside lists/dicts, keys included."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, list | tuple):
            return [self.redact_data(v) for v in data]
        if isinstance(data, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in data.items()}
        return data


def references(data: Any, sensitive: bool = False) -> Iterator[SecretRef | str]:
    """Every credential reference inside data: SecretRef objects (pydantic models are walked), and
    ``env:``/``file:`` strings under credential-like keys."""
    if isinstance(data, SecretRef):
        yield data
    elif hasattr(data, "__pydantic_fields__"):
        for name in type(data).__pydantic_fields__:
            yield from references(getattr(data, name, None), sensitive or is_credential_key(name))
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from references(value, sensitive or (isinstance(key, str) and is_credential_key(key)))
    elif isinstance(data, list | tuple):
        for item in data:
            yield from references(item, sensitive)
    elif sensitive and is_reference(data):
        yield str(data)


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every revealed secret value in ``text`` (for command output, reports, audit rows)."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, REDACTED)
    return text
