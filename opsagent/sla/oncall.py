"""Who is on call at a moment: a daily or weekly rotation in local time, overrides first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def _handover(rotation: Rotation, days: int) -> datetime:
    """The regular hand-over ``days`` local days after the anchor, at the anchor's wall-clock time."""
    tz = ZoneInfo(rotation.timezone)
    anchor = rotation.start if rotation.start.tzinfo is None else rotation.start.astimezone(tz)
    local = datetime.combine(anchor.date() + timedelta(days=days), anchor.time().replace(tzinfo=None))
    return local.replace(tzinfo=tz).astimezone(UTC)


def shifts(rotation: Rotation, start: datetime, count: int) -> list[tuple[datetime, str]]:
    """The shift in force at ``start`` (from when it began) and the hand-overs after it, at most ``count``:
    regular hand-overs step from the rotation's anchor, and every override's start and end are
    hand-overs too (for ``opsagent incident oncall``)."""
    period = 7 if rotation.every == "weekly" else 1
    tz = ZoneInfo(rotation.timezone)
    anchor = rotation.start if rotation.start.tzinfo is None else rotation.start.astimezone(tz).replace(tzinfo=None)
    local = start.astimezone(tz).replace(tzinfo=None)
    days = (local.date() - anchor.date()).days - (local.time() < anchor.time())
    first = (days // period) * period  # the regular shift in force at ``start`` began here
    moments = {_handover(rotation, first + i * period) for i in range(count + 1)}
    horizon = max(moments)
    for o in rotation.overrides:
        moments |= {m for m in (utc(o.start, rotation.timezone), utc(o.end, rotation.timezone)) if m <= horizon}
    merged: list[tuple[datetime, str]] = []
    for at in sorted(moments):
        who = on_call(rotation, at)
        if not merged or merged[-1][1] != who:
            merged.append((at, who))
    current = max((i for i, (at, _) in enumerate(merged) if at <= start), default=0)
    return merged[current : current + count + 1]
