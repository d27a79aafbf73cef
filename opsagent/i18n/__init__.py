"""The reader's language and time zone, agent-wide.

``language`` (zh | en) and ``timezone`` (an IANA name) of the agent config pick the language of every
report and notification and the zone of every time shown and every cron. Unset, they follow the host:
``$LC_ALL``/``$LC_MESSAGES``/``$LANG`` (zh_* → zh, else en) and the host's zone (``$TZ``, then
``/etc/localtime``). Times shown carry their zone, as ``2026-12-07 09:30 UTC+08:00``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LANGUAGES = ("zh", "en")


def system_language(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def valid_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai or UTC)") from None
    return name


def system_zone() -> tzinfo:
    """The host's zone as an IANA zone where it can be told (cron needs DST rules, not an offset)."""
    from tzlocal import get_localzone  # APScheduler's own dependency

    try:
        return get_localzone()
    except Exception:  # a host with a broken /etc/localtime: say UTC rather than fail
        return ZoneInfo("UTC")


def apply_process_zone(name: str | None) -> None:
    """Make ``astimezone()`` and ``%Z`` of this process use the configured zone (the Unix way: TZ)."""
    if name:
        os.environ["TZ"] = name
        time.tzset()


def zone_label(value: datetime) -> str:
    offset = value.utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def show_time(value: datetime | None, zone: tzinfo | None = None, seconds: bool = False) -> str:
    """A moment in the reader's zone, labelled with it; naive values are taken as UTC."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    local = value.astimezone(zone) if zone is not None else value.astimezone()
    # formatted by hand: strftime builds a struct_time and asks the zone again (a page shows hundreds)
    shown = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"
    return (f"{shown}:{local.second:02d}" if seconds else shown) + " " + zone_label(local)
