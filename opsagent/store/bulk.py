"""Reading many rows by id: ``column.in_(IDS)`` executed once per chunk with ``{"ids": chunk}`` —
one statement, compiled (and cached) once, whatever the number of chunks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam

IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_CHUNK = 5_000  # ids per IN (...): under SQLite's (32,766) and PostgreSQL's (65,535) parameter limits


def id_chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    """Ids in chunks for ``IN (...)``: well under SQLite's and PostgreSQL's parameter limits."""
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]
