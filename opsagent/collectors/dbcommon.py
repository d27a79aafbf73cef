"""What the database collectors share: credentials by reference, and running a profile's queries.

Drivers differ (psycopg, PyMySQL); the loop over content queries, version gating and the
optional-query rule do not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.sqlquery import QuerySpec, Row, rows_to_facts, rows_to_samples
from opsagent.errors import CollectError, SecretError
from opsagent.inventory.model import Asset
from opsagent.secrets import is_reference


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


Transform = Callable[[list[Row]], list[Sample]]


class QueryFailed(Exception):
    """A driver error classified by the collector: ``reason`` is a short code (timeout, query_error, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class QueryRun:
    samples: list[Sample] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # optional query name → why it was skipped


def run_queries(
    specs: Sequence[QuerySpec],
    version: int,
    execute: Callable[[str], list[Row]],
    classify: Callable[[Exception], QueryFailed],
    transforms: Mapping[str, Transform] | None = None,
) -> QueryRun:
    """Run every applicable query. An optional query's non-timeout error skips it; any other error
    stops the run with a :class:`CollectError` naming the query."""
    out = QueryRun()
    for spec in specs:
        if not spec.applies_to(version):
            continue
        try:
            rows = execute(spec.sql)
        except Exception as exc:
            failed = classify(exc)
            if spec.optional and failed.reason != "timeout":
                out.skipped[spec.name] = f"{failed.reason}: {failed}"
                continue
            raise CollectError(failed.reason, f"query {spec.name!r}: {failed}") from None
        out.samples += rows_to_samples(spec, rows)
        if spec.transform is not None and transforms is not None:
            out.samples += transforms[spec.transform](rows)
        if spec.facts is not None:
            out.facts[spec.facts] = rows_to_facts(spec, rows)
    return out


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
