"""The period a report page shows, from its query: a month (``2026-07``), a quarter (``2026Q3``) or a
custom range (``from``/``to`` days, ``to`` exclusive), in the zone of the policy's calendar (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

KINDS = ("quarter", "month", "custom")
YEARS = range(1970, 9999)  # as the CLI's --year
MAX_DAYS = 3700  # about ten years: a longer range is a typo


@dataclass(frozen=True)
class Period:
    kind: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    quarter: str
    month: str
    first: str  # the custom range's days as typed back into the form
    last: str

    def query(self) -> dict[str, str]:
        """The query that names this period again (for the download links)."""
        if self.kind == "quarter":
            return {"kind": "quarter", "quarter": self.quarter}
        if self.kind == "month":
            return {"kind": "month", "month": self.month}
        return {"kind": "custom", "from": self.first, "to": self.last}


def _utc(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _quarter(text: str) -> tuple[date, date]:
    year, _, q = text.strip().upper().partition("Q")
    if not (year.isdigit() and len(year) == 4 and q in ("1", "2", "3", "4")):
        raise ValueError(f"quarter: {text[:20]!r} is not a quarter (e.g. 2026Q3)")
    y, n = _year(int(year), "quarter"), int(q)
    return date(y, 3 * n - 2, 1), date(y + 1, 1, 1) if n == 4 else date(y, 3 * n + 1, 1)


def _month(text: str) -> tuple[date, date]:
    year, _, month = text.strip().partition("-")
    if not (year.isdigit() and len(year) == 4 and month.isdigit() and 1 <= int(month) <= 12):
        raise ValueError(f"month: {text[:20]!r} is not a month (e.g. 2026-07)")
    y, m = _year(int(year), "month"), int(month)
    return date(y, m, 1), date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)


def _year(year: int, field: str) -> int:
    if year not in YEARS:
        raise ValueError(f"{field}: the year must be between {YEARS.start} and {YEARS.stop - 1}")
    return year


def _day(text: str, field: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{field}: {text[:20]!r} is not a day (YYYY-MM-DD)") from None
    _year(day.year, field)
    return day


def this_quarter(today: date) -> str:
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


def parse(query: Any, tz: tzinfo, today: date) -> Period:
    """The period the query names (default: the quarter of ``today``); ValueError naming the field."""
    kind = str(query.get("kind") or "quarter")
    if kind not in KINDS:
        raise ValueError(f"kind: {kind[:20]!r} is not one of {', '.join(KINDS)}")
    quarter = str(query.get("quarter") or this_quarter(today))[:20]
    month = str(query.get("month") or today.strftime("%Y-%m"))[:20]
    first, last = str(query.get("from") or "")[:20], str(query.get("to") or "")[:20]
    if kind == "quarter":
        lo, hi = _quarter(quarter)
    elif kind == "month":
        lo, hi = _month(month)
    else:
        lo, hi = _day(first, "from"), _day(last, "to")
        if hi <= lo:
            raise ValueError("to: must be after from (the day after the last one)")
        if (hi - lo).days > MAX_DAYS:
            raise ValueError(f"to: at most {MAX_DAYS} days after from")
    return Period(kind, _utc(lo, tz), _utc(hi, tz), quarter, month, first or lo.isoformat(), last or hi.isoformat())
