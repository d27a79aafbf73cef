"""One rule for every cron in opsagent (runbook schedules, configuration backups): it runs in an
explicit zone — the item's own ``timezone`` if it names one, else the agent's configured ``timezone``,
else the host's zone — never silently in UTC or in whatever zone the process happens to have."""

from __future__ import annotations

from datetime import tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger


def cron_zone(own: str | None, default: tzinfo) -> tzinfo:
    return ZoneInfo(own) if own else default


def cron_trigger(expression: str, zone: tzinfo) -> CronTrigger:
    """ValueError when the expression is invalid."""
    return CronTrigger.from_crontab(expression, timezone=zone)


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)
