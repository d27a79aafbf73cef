"""Store URLs, without importing SQLAlchemy (the agent config needs the default URL at start)."""

from __future__ import annotations

from pathlib import Path


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"
