"""Business calendars: working hours per weekday in a time zone, minus public holidays.

Times go in and out as aware UTC datetimes; the calendar works in local wall time so a DST change
moves the working window with the clock on the wall (09:00 stays 09:00), as people expect.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

# Far enough to cross any holiday list; a calendar with no working time at all is rejected by the policy.
_MAX_DAYS = 3700
# The fast index covers these local dates; times outside fall back to walking day by day.
_INDEX_FROM, _INDEX_TO = date(2010, 1, 1), date(2070, 1, 1)
# Indexes shared by equal calendars (a reloaded policy, tests building the same calendar again).
_INDEXES: dict[tuple[object, ...], _Index] = {}
# One build at a time: several console requests (threads) asking for a calendar's first clocks at once
# each built the same sixty years of windows (≈0.2 s of CPU each) — one builds, the others wait for it.
_BUILDING = threading.Lock()


class _Index:
    """Every working window of the indexed years as epoch seconds, with cumulative working time,
    so ``between`` is two bisections and ``add`` one (100,000 clocks per tick in well under 1 s)."""

    def __init__(self, cal: Calendar) -> None:
        lo: list[float] = []
        hi: list[float] = []
        day = _INDEX_FROM
        one = timedelta(days=1)
        while day < _INDEX_TO:
            for begin, end in cal._day_windows(day):
                a = _utc(day, begin, cal.tz).timestamp()
                b = (_utc(day + one, time(0), cal.tz) if end == time(0) else _utc(day, end, cal.tz)).timestamp()
                if b > a and (not hi or a >= hi[-1]):
                    lo.append(a)
                    hi.append(b)
            day += one
        self.lo, self.hi = lo, hi
        self.cum: list[float] = []  # working seconds before window j
        self.cum_end: list[float] = []  # working seconds up to the end of window j
        total = 0.0
        for a, b in zip(lo, hi, strict=True):
            self.cum.append(total)
            total += b - a
            self.cum_end.append(total)
        self.first = _utc(_INDEX_FROM, time(0), cal.tz).timestamp() + 86400
        self.last = (_utc(_INDEX_TO, time(0), cal.tz) - timedelta(days=_MAX_DAYS // 10)).timestamp()
        self._arrays: tuple[np.ndarray, ...] | None = None

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(lo, hi, cum, cum_end) as float arrays, for the batch clocks."""
        if self._arrays is None:
            self._arrays = tuple(np.array(v, dtype=np.float64) for v in (self.lo, self.hi, self.cum, self.cum_end))
        return self._arrays

    def covers(self, t: float) -> bool:
        return self.first <= t <= self.last

    def worked(self, t: float) -> float:
        """Working seconds from the start of the index to ``t``."""
        j = bisect_right(self.lo, t) - 1
        if j < 0:
            return 0.0
        return self.cum[j] + min(t, self.hi[j]) - self.lo[j]

    def at(self, worked: float) -> float | None:
        j = bisect_left(self.cum_end, worked)
        if j >= len(self.lo):
            return None
        return self.lo[j] + (worked - self.cum[j])


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
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def _index(self) -> _Index:
        index = self._cache.get("index")
        if index is None:
            key = (str(self.tz), sorted(self.hours.items()), self.holidays, self.workdays, self.workday_hours)
            frozen = tuple(map(repr, key))
            index = _INDEXES.get(frozen)
            if index is None:
                with _BUILDING:
                    index = _INDEXES.get(frozen)  # built by another thread meanwhile
                    if index is None:
                        if len(_INDEXES) > 64:
                            _INDEXES.clear()
                        index = _INDEXES[frozen] = _Index(self)
            self._cache["index"] = index
        return index

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

    def timeline(self) -> Timeline:
        """Epoch seconds ↔ cumulative working seconds, for clocks computed on floats."""
        found = self._cache.get("timeline")
        if found is None:
            found = self._cache["timeline"] = Timeline(None if self.always else self._index())
        return found

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of working time after ``start``."""
        if seconds <= 0:
            return start
        if self.always:
            return start + timedelta(seconds=seconds)
        index = self._index()
        t0 = start.timestamp()
        if index.covers(t0):
            end = index.at(index.worked(t0) + seconds)
            if end is not None and index.covers(end):
                return datetime.fromtimestamp(max(end, t0), UTC)
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
        index = self._index()
        t0, t1 = start.timestamp(), end.timestamp()
        if index.covers(t0) and index.covers(t1):
            return index.worked(t1) - index.worked(t0)
        total = 0.0
        for lo, hi in self.windows(start):
            if lo >= end:
                break
            total += (min(hi, end) - lo).total_seconds()
        return total

    def add_days(self, start: datetime, days: int) -> datetime:
        """``days`` working days later, at the same local time of day (for follow-ups)."""
        if days <= 0:
            return start
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


class Timeline:
    """A calendar as a monotone map from epoch seconds to working seconds (``worked``) and back
    (``moment``): one bisection each, no datetime arithmetic. Both return None outside the indexed
    years; the caller then falls back to the calendar's datetime methods. 24×7 is the identity."""

    __slots__ = ("_index",)

    def __init__(self, index: _Index | None) -> None:
        self._index = index

    def worked(self, t: float) -> float | None:
        index = self._index
        if index is None:
            return t
        if not index.first <= t <= index.last:
            return None
        j = bisect_right(index.lo, t) - 1
        if j < 0:
            return 0.0
        hi = index.hi[j]
        return index.cum[j] + (t if t < hi else hi) - index.lo[j]

    def moment(self, worked: float, floor: float) -> float | None:
        """The epoch second at which ``worked`` working seconds are reached, not before ``floor``."""
        index = self._index
        if index is None:
            return worked if worked > floor else floor
        j = bisect_left(index.cum_end, worked)
        if j >= len(index.lo):
            return None
        end = index.lo[j] + (worked - index.cum[j])
        if not index.first <= end <= index.last:
            return None
        return end if end > floor else floor

    # The same two maps over arrays (numpy), for many clocks at once: the same float operations in
    # the same order as the scalar methods, so both give bit-identical results. ``ok`` is False
    # where the scalar method would return None.

    def worked_many(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = self._index
        if index is None:
            return t, np.ones(t.shape, dtype=bool)
        lo, hi, cum, _ = index.arrays()
        j = np.searchsorted(lo, t, side="right") - 1
        k = np.maximum(j, 0)
        w = np.where(j < 0, 0.0, (cum[k] + np.minimum(t, hi[k])) - lo[k])
        return w, (index.first <= t) & (t <= index.last)

    def moment_many(self, worked: np.ndarray, floor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = self._index
        if index is None:
            return np.where(worked > floor, worked, floor), np.ones(np.shape(worked), dtype=bool)
        lo, _, cum, cum_end = index.arrays()
        j = np.searchsorted(cum_end, worked, side="left")
        k = np.minimum(j, len(lo) - 1)
        end = lo[k] + (worked - cum[k])
        ok = (j < len(lo)) & (index.first <= end) & (end <= index.last)
        return np.where(end > floor, end, floor), ok


def _utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: in the repeated hour of a DST fall-back, take the first occurrence; a time in the
    # spring-forward gap maps to the moment after it, so windows never run backwards.
    return datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)
