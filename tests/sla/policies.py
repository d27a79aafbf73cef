"""A small test policy (independent of the shipped content) and helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from opsagent.sla.policy import ServiceLevelPolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")


def cst(*args: int) -> datetime:
    """A wall-clock time in Shanghai, as aware UTC."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)  # type: ignore[misc]


def policy(**overrides: Any) -> ServiceLevelPolicy:
    data: dict[str, Any] = {
        "default_calendar": "business",
        "calendars": {
            "business": {
                "timezone": "Asia/Shanghai",
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                "hours": ["09:00-12:00", "13:00-18:00"],
                "holidays": ["2026-04-06"],  # 清明节 (Monday)
            },
            "24x7": {"timezone": "Asia/Shanghai", "always": True},
        },
        "priority_matrix": {"high": {"high": "P1", "low": "P2"}, "low": {"high": "P3", "low": "P4"}},
        "targets": {
            "P1": {
                "calendar": "24x7",
                "internal": {"response": "1h", "assessment": "24h", "resolution": "24h"},
                "external": {"response": "2h", "assessment": "24h", "resolution": "48h"},
            },
            "P2": {
                "calendar": "business",
                "internal": {"response": "1h", "assessment": "24h", "resolution": "24h"},
                "external": {"response": "2h", "assessment": "24h", "resolution": "48h"},
            },
            "P3": {
                "calendar": "business",
                "internal": {"response": "1h", "resolution": "5wd", "resolution_complex": "10wd"},
                "external": {"response": "2h", "resolution": "5wd"},
            },
            "P4": {
                "calendar": "business",
                "internal": {"response": "1h", "resolution": "10wd"},
                "external": {"response": "2h", "resolution": "10wd"},
            },
        },
        "escalation": {
            "targets": ["response", "resolution"],
            "levels": [
                {"at": "50%", "notify": ["oncall:ops"]},
                {"at": "100%", "notify": ["team:leads", "channel:ops-hook"]},
                {"at": "150%", "notify": ["person:director"]},
            ],
        },
        "oncall": {
            "ops": {
                "every": "weekly",
                "start": "2026-03-30T09:00",
                "timezone": "Asia/Shanghai",
                "members": ["ann", "bob", "cai"],
                "overrides": [{"start": "2026-04-08T00:00", "end": "2026-04-09T00:00", "who": "dan"}],
            }
        },
        "followup": {"after_working_days": 3},
    }
    data.update(overrides)
    return ServiceLevelPolicy.model_validate(data)
