"""Business calendars: working hours per weekday in a time zone, minus public holidays.

Times go in and out as aware UTC datetimes; the calendar works in local wall time so a DST change
moves the working window with the clock on the wall (09:00 stays 09:00), as people expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Far enough to cross any holiday list; a calendar with no working time at all is rejected by the policy.
_MAX_DAYS = 3700


@dataclass(frozen=True)
class Calendar:
    """``hours[weekday]`` (Monday = 0) lists (start, end) local times; ``always`` is 24×7."""

    name: str
    tz: ZoneInfo
    hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # make-up working days (调休) that fall on weekends
    workday_hours: tuple[tuple[time, time], ...] = ()
    always: bool = False

    def _day_windows(self, day: date) -> tuple[tuple[time, time], ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.workday_hours
        return self.hours.get(day.weekday(), ())

    def windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC) that end after ``start``, in order, clipped to begin at ``start``."""
        if self.always:
            yield start, datetime.max.replace(tzinfo=UTC)
            return
        local_day = start.astimezone(self.tz).date() - timedelta(days=1)
        for offset in range(_MAX_DAYS):
            day = local_day + timedelta(days=offset)
            for begin, end in self._day_windows(day):
                lo = _utc(day, begin, self.tz)
                hi = _utc(day + timedelta(days=1), time(0), self.tz) if end == time(0) else _utc(day, end, self.tz)
                if hi <= start or hi <= lo:
                    continue
                yield max(lo, start), hi

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of working time after ``start``."""
        if seconds <= 0:
            return self.next_working(start) if seconds == 0 and not self.always else start
        left = seconds
        for lo, hi in self.windows(start):
            span = (hi - lo).total_seconds()
            if span >= left:
                return lo + timedelta(seconds=left)
            left -= span
        raise ValueError(f"calendar {self.name!r} has no working time within {_MAX_DAYS} days")

    def next_working(self, start: datetime) -> datetime:
        for lo, _hi in self.windows(start):
            return lo
        return start

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end)."""
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        total = 0.0
        for lo, hi in self.windows(start):
            if lo >= end:
                break
            total += (min(hi, end) - lo).total_seconds()
        return total

    def add_days(self, start: datetime, days: int) -> datetime:
        """``days`` working days later, at the same local time of day (for follow-ups)."""
        day = start.astimezone(self.tz).date()
        count = 0
        for offset in range(1, _MAX_DAYS):
            candidate = day + timedelta(days=offset)
            if self._day_windows(candidate) or (self.always and candidate not in self.holidays):
                count += 1
                if count >= days:
                    local = start.astimezone(self.tz).replace(tzinfo=None)
                    return datetime.combine(candidate, local.time()).replace(tzinfo=self.tz).astimezone(UTC)
        raise ValueError(f"calendar {self.name!r} has no working day within {_MAX_DAYS} days")


def _utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: in the repeated hour of a DST fall-back, take the first occurrence; a time in the
    # spring-forward gap maps to the moment after it, so windows never run backwards.
    return datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)
