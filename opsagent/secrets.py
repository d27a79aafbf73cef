"""Credential references: ``env:NAME`` and ``file:PATH``.

The inventory and the store only ever hold the *reference*. The value is read at the moment a
transport needs it and wrapped in :class:`Secret`, whose repr/str never show it, so it cannot slip
into a log line, an exception message, a report or ``/metrics`` by accident.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from opsagent.errors import SecretError

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
    r"(^|[_\-.])(password|passwd|pass|passphrase|secret|community|token|api_?key|auth_?key|priv_?key|private_key)$",
    re.IGNORECASE,
)


def check_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """Refuse plain-text secrets in vars; references and Jinja indirections (``{{ vault_x }}``) pass."""
    for name, value in variables.items():
        plain = isinstance(value, str) and value and not is_reference(value) and "{{" not in value
        if plain and _SENSITIVE_VAR.search(name):
            raise ValueError(f"{name}: plain-text secrets are refused; use 'env:NAME' or 'file:PATH'")
    return variables


def is_sensitive(field: str) -> bool:
    name = field.lower()
    return any(word in name for word in _SENSITIVE)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and _REF.match(value) is not None


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
            return Secret(Path(self.target).read_text(encoding="utf-8").rstrip("\r\n"))
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


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every revealed secret value in ``text`` (for command output, reports, audit rows)."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, REDACTED)
    return text
