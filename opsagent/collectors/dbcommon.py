"""What the database collectors share: credentials by reference, and running a profile's queries.

Drivers differ (psycopg, PyMySQL); running the content queries does not (see queryrun.py).
"""

from __future__ import annotations

from opsagent.collectors.base import CollectResult, Outcome
from opsagent.collectors.queryrun import QueryFailed, Transform
from opsagent.errors import CollectError, SecretError
from opsagent.inventory.model import Asset
from opsagent.secrets import is_reference

__all__ = ["QueryFailed", "Transform", "connect_reason", "credential", "failed"]


def credential(asset: Asset, section: str, field_name: str) -> str | None:
    """A credential field: a reference is resolved now (never kept), a plain user name is used as is."""
    value = asset.credentials.get(section, {}).get(field_name)
    if value is None:
        return None
    if isinstance(value, str) and is_reference(value):
        ref = asset.credential_ref(section, field_name)
        assert ref is not None
        try:
            return ref.resolve().reveal()
        except SecretError as exc:
            raise CollectError("credentials", str(exc)) from None
    return str(value)


_OUTCOMES = {
    "timeout": Outcome.TIMEOUT,
    "refused": Outcome.UNREACHABLE,
    "dns": Outcome.UNREACHABLE,
    "unreachable": Outcome.UNREACHABLE,
}


def failed(asset: str, collector: str, reason: str, message: str) -> CollectResult:
    """A failed result whose outcome follows from its reason (timeout, unreachable or failed)."""
    return CollectResult.failure(asset, collector, _OUTCOMES.get(reason, Outcome.FAILED), reason, message)


def connect_reason(message: str) -> str:
    """Reason code of a connection error from its text (drivers word these alike)."""
    text = message.lower()
    for needle, reason in _CONNECT_REASONS:
        if needle in text:
            return reason
    return "unreachable"


_CONNECT_REASONS = (
    # The server is up but out of connection slots (a connection storm, a leaking pool): not a
    # reachability problem. PostgreSQL 53300 ("sorry, too many clients already", "too many
    # connections for role/database", "remaining connection slots are reserved"); MySQL/MariaDB
    # 1040 "Too many connections", 1203/1226 max_user_connections; Redis maxclients.
    ("too many clients", "too_many_connections"),
    ("too many connections", "too_many_connections"),
    ("remaining connection slots are reserved", "too_many_connections"),
    ("max_user_connections", "too_many_connections"),
    ("max number of clients reached", "too_many_connections"),  # Redis maxclients
    ("password", "auth"),
    ("access denied", "auth"),
    ("authentication", "auth"),
    ("noauth", "auth"),
    ("no pg_hba.conf entry", "auth"),
    ("does not exist", "auth"),  # role/database missing: a login problem to the operator
    ("ssl", "tls"),
    ("certificate", "tls"),
    ("timeout", "timeout"),
    ("timed out", "timeout"),
    ("refused", "refused"),
    ("name or service not known", "dns"),
    ("could not translate host name", "dns"),
    ("name resolution", "dns"),
    ("getaddrinfo", "dns"),
)
