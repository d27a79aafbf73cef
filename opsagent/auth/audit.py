"""Reading the one audit log: the time filters people type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsagent.units import parse_duration


def parse_since(text: str) -> datetime:
    """An ISO date/time (UTC unless it says otherwise) or a duration back from now (``2h``, ``7d``)."""

    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"since: {text[:40]!r} is neither a time (2026-12-01T08:00) nor a duration (2h, 7d)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
