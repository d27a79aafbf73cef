"""Who is on call at a moment: a daily or weekly rotation in local time, overrides first."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from opsagent.sla.policy import Rotation, utc


def on_call(rotation: Rotation, at: datetime) -> str:
    tz = ZoneInfo(rotation.timezone)
    for override in rotation.overrides:
        if utc(override.start, rotation.timezone) <= at < utc(override.end, rotation.timezone):
            return override.who
    start = (
        rotation.start.replace(tzinfo=None)
        if rotation.start.tzinfo is None
        else rotation.start.astimezone(tz).replace(tzinfo=None)
    )
    local = at.astimezone(tz).replace(tzinfo=None)
    # Count whole local days so a shift hands over at the same wall-clock time across DST changes.
    days = (local.date() - start.date()).days
    if local.time() < start.time():
        days -= 1
    period = 7 if rotation.every == "weekly" else 1
    return rotation.members[(days // period) % len(rotation.members)]


def shifts(rotation: Rotation, start: datetime, count: int) -> list[tuple[datetime, str]]:
    """The next ``count`` hand-overs from ``start`` (for ``opsagent incident oncall``)."""
    out: list[tuple[datetime, str]] = []
    step = timedelta(days=7 if rotation.every == "weekly" else 1)
    at = start
    while len(out) < count:
        who = on_call(rotation, at)
        if not out or out[-1][1] != who:
            out.append((at, who))
        at += step
    return out
