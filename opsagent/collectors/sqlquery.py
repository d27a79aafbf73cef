"""SQL queries as content: a query, the columns that are labels, the columns that are metrics.

The shape follows postgres_exporter's ``queries.yaml`` (columns used as LABEL, GAUGE or COUNTER),
so an ops team adds a query to a profile without code. Turning rows into samples and facts is pure
(no driver here), so the PostgreSQL and MySQL collectors share it and unit tests need no server.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from opsagent.errors import ConfigError
from opsagent.loader import parse_yaml_file

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class MetricSpec(BaseModel):
    """One numeric column exposed as a series."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["gauge", "counter"] = "gauge"
    help: str = ""
    scale: float = Field(default=1.0, description="multiplier to base units (e.g. 0.001 for ms → s)")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _METRIC_NAME.match(value):
            raise ValueError(f"invalid metric name {value!r}")
        return value


Flavor = Literal["mysql", "mariadb"]
# A version bound: one number for every server flavour, or one per flavour (MySQL and MariaDB
# number their versions independently: MariaDB 10.4 is 100400, far above MySQL 8.0's 80000).
VersionBound = int | dict[Flavor, int]


def _bound(bound: VersionBound | None, flavor: str) -> int | None:
    if isinstance(bound, dict):
        found: int | None = bound.get(flavor)  # type: ignore[call-overload]
        return found
    return bound


class QuerySpec(BaseModel):
    """A query of a database profile. ``min_version``/``max_version`` gate it on the server's
    numeric version (PostgreSQL ``server_version_num``, MySQL ``80030``-style), either one number
    or one per flavour (``{mysql: 80022, mariadb: 100501}``; a flavour not named is not bounded)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    sql: str = Field(min_length=1)
    labels: list[str] = Field(default_factory=list, description="columns turned into labels")
    metrics: dict[str, MetricSpec] = Field(default_factory=dict, description="column → series")
    facts: str | None = Field(default=None, description="store the rows as facts under this key")
    fact_key: str | None = Field(default=None, description="column keying the fact rows (one entry per row)")
    fact_columns: list[str] | None = Field(default=None, description="columns kept in the facts (default: all)")
    transform: str | None = Field(
        default=None, description="a built-in row parser of the collector (e.g. pg_settings, mysql_global_status)"
    )
    min_version: VersionBound | None = None
    max_version: VersionBound | None = None
    optional: bool = Field(
        default=False,
        description="a permission or missing-object error is expected: the query is skipped quietly instead "
        "of being counted as a failed query (a timeout is still counted)",
    )

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if not _LABEL_NAME.match(label) or label == "asset":
                raise ValueError(f"invalid label column {label!r}")
        return value

    @model_validator(mode="after")
    def _does_something(self) -> QuerySpec:
        if not self.metrics and self.facts is None and self.transform is None:
            raise ValueError(f"query {self.name!r} has neither metrics, facts nor a transform")
        return self

    def applies_to(self, version: int, flavor: str = "") -> bool:
        low, high = _bound(self.min_version, flavor), _bound(self.max_version, flavor)
        return (low is None or version >= low) and (high is None or version <= high)


def check_transforms(queries: list[QuerySpec], known: Iterable[str]) -> list[QuerySpec]:
    """Validator helper: every ``transform`` names one of the collector's built-in parsers."""
    names = set(known)
    for query in queries:
        if query.transform is not None and query.transform not in names:
            raise ValueError(f"query {query.name!r}: unknown transform {query.transform!r} (known: {sorted(names)})")
    return queries


def number(value: Any) -> float | None:
    """A column value as a float: booleans 1/0, intervals in seconds, timestamps in Unix seconds."""
    if value is None or isinstance(value, str | bytes):
        return _parse_text_number(value)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float | Decimal):
        result = float(value)
        return None if math.isnan(result) else result
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return None


def _parse_text_number(value: str | bytes | None) -> float | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    lowered = text.strip().lower()
    if lowered in ("on", "yes", "true"):
        return 1.0
    if lowered in ("off", "no", "false"):
        return 0.0
    try:
        return float(lowered)
    except ValueError:
        return None


def label_value(value: Any) -> str:
    if type(value) is str:  # the common case first: this runs for every label of every row
        return value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def exposition_kind(name: str, kind: Literal["gauge", "counter"]) -> Literal["gauge", "counter"]:
    """Exporter names such as ``pg_stat_database_xact_commit`` are counters without ``_total``: exposed
    as such, the OpenMetrics format (which requires ``_total``) would reject the family. They keep their
    exact name and go out untyped-as-gauge, as the Go exporters' samples look to PromQL anyway."""
    return "counter" if kind == "counter" and name.endswith("_total") else "gauge"


_PLAIN = frozenset({str, int, bool})


def fact_value(value: Any) -> Any:
    """A JSON-friendly fact value."""
    if value is None or type(value) in _PLAIN:  # exact types first: this runs for every fact cell
        return value
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        number_ = float(value)
        return int(number_) if number_.is_integer() else number_
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return label_value(value)


def profile_help(directory: Path) -> dict[str, str]:
    """HELP texts written in the profiles of one collector folder (best effort: ``opsagent check``
    reports broken files; here they only lose their HELP texts)."""
    out: dict[str, str] = {}
    for path in sorted(directory.glob("*.y*ml")):
        try:
            queries = parse_yaml_file(path).data["options"]["queries"]
        except (ConfigError, KeyError, TypeError):
            continue
        for query in queries if isinstance(queries, list) else []:
            metrics = query.get("metrics") if isinstance(query, dict) else None
            for metric in (metrics or {}).values():
                if isinstance(metric, dict) and metric.get("name") and metric.get("help"):
                    out.setdefault(str(metric["name"]), str(metric["help"]))
    return out
