"""Public holidays from a maintained package, so a business calendar is not a hand-kept list.

``public_holidays: CN`` takes the State Council's holidays (法定节假日, in-lieu days included) and
调休 make-up working days from the ``chinese-calendar`` package; a calendar's own ``holidays`` and
``workdays`` lists are site overrides on top (a date in one list wins over the package's other list).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache


@dataclass(frozen=True)
class RegionDays:
    holidays: frozenset[date]
    workdays: frozenset[date]
    years: frozenset[int]  # years the package has the official notice for


REGIONS = ("CN",)


@cache
def region_days(region: str) -> RegionDays:
    if region != "CN":
        raise ValueError(f"no public-holiday data for region {region!r} (known: {', '.join(REGIONS)})")
    import chinese_calendar  # lazy: only calendars that use it pay the import

    holidays = frozenset(chinese_calendar.holidays)
    workdays = frozenset(chinese_calendar.workdays)
    return RegionDays(holidays, workdays, frozenset(d.year for d in holidays))


def merged(region: str | None, holidays: list[date], workdays: list[date]) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up workdays) of a calendar: the region's, overridden by the site's own lists."""
    own_holidays, own_workdays = frozenset(holidays), frozenset(workdays)
    if region is None:
        return own_holidays, own_workdays
    days = region_days(region)
    return (days.holidays - own_workdays) | own_holidays, (days.workdays - own_holidays) | own_workdays


def years_covered(region: str | None, holidays: list[date], workdays: list[date]) -> set[int]:
    years = {d.year for d in (*holidays, *workdays)}
    if region is not None:
        years |= region_days(region).years
    return years
