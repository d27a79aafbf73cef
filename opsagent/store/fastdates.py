"""Reading many UTC timestamps fast: SQLAlchemy parses SQLite's datetime text with a regular
expression per value; bulk readers (the SLA tick, period reports) read the text and let
``datetime.fromisoformat`` (C) parse it. PostgreSQL's driver already returns aware datetimes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Float, String, func, type_coerce
from sqlalchemy.sql.elements import ColumnElement


def utc_reader(conn: Connection, column: Any) -> tuple[ColumnElement[Any], Callable[[Any], datetime | None]]:
    """(expression to select, converter to an aware UTC datetime) for a UtcDateTime column."""
    if conn.dialect.name == "sqlite":
        return type_coerce(column, String).label(column.key), _from_text
    return column, _aware


def _from_text(value: str | None) -> datetime | None:
    # parsing the offset is five times cheaper than datetime.replace(tzinfo=...) afterwards
    return datetime.fromisoformat(value + "+00:00") if value is not None else None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_reader(conn: Connection, column: Any) -> tuple[ColumnElement[Any], Callable[[Any], float]]:
    """(expression to select, converter to epoch seconds) for a non-null UtcDateTime column. The
    database computes the epoch (in C, per row) so the reader gets plain floats."""
    if conn.dialect.name == "sqlite":
        # UtcDateTime is stored as UTC text; julianday() parses it, 2440587.5 is 1970-01-01.
        expr = (func.julianday(type_coerce(column, String)) - 2440587.5) * 86400.0
        return type_coerce(expr, Float).label(column.key), _float
    if conn.dialect.name == "postgresql":
        return type_coerce(func.extract("epoch", column), Float).label(column.key), _float
    return column, _epoch


def epoch_text_column(conn: Connection, column: Any) -> ColumnElement[Any]:
    """What to select of a non-null UtcDateTime column for :func:`epochs` (exact to the
    microsecond; ``epoch_reader``'s julianday arithmetic is off by some microseconds): SQLite's
    stored text, PostgreSQL's datetime."""
    if conn.dialect.name == "sqlite":
        return type_coerce(column, String).label(column.key)
    selected: ColumnElement[Any] = column
    return selected


def epochs(values: Sequence[Any]) -> list[float]:
    """Epoch seconds of many values read through ``epoch_text_column``, exact to the microsecond:
    SQLite's UTC text parsed by numpy in one call, datetimes (PostgreSQL) one by one."""
    if values and isinstance(values[0], str):
        micros = np.array(values, dtype="datetime64[us]").astype(np.int64)
        return (micros / 1e6).tolist()  # type: ignore[no-any-return]
    return [_epoch(v) for v in values]


def _float(value: Any) -> float:
    return float(value)  # only for non-null columns (see epoch_reader)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()
