"""The newest shipped schema revision, read from the migration files without importing Alembic or
SQLAlchemy (the store checks it at every open; the quick reader checks it before trusting a file)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^(down_)?revision(?:: [^=]+)? = ["']?([^"'\s]*)["']?""", re.MULTILINE)


@cache
def shipped_head() -> str | None:
    """The newest revision of the shipped migrations, read from their files' ``revision`` and
    ``down_revision`` lines (one linear chain; a fork makes this None, and Alembic then decides)."""
    revisions: dict[str, str] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((bool(down), value) for down, value in _REVISION.findall(path.read_text(encoding="utf-8")))
        if False in found:
            revisions[found[False]] = found.get(True, "")
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None
