"""The incident model: statuses, event kinds and the fields the service process asks for.

An incident's history is its append-only event log; SLA clocks (next issue) are computed from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


ACTIVE = (Status.OPEN.value, Status.ACKNOWLEDGED.value)


class EventKind(StrEnum):
    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    NOTE = "note"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    # written by the agent itself
    REPEATED = "repeated"
    CLEARED = "cleared"  # the alert cleared but the rule wants a person to confirm (resolve: manual)
    FLAPPING = "flapping"
    SUPPRESSED = "suppressed"
    UPDATED = "updated"
    TRAP = "trap"  # an SNMP trap that opened, repeated onto or cleared the incident (opsagent.traps)
    # service levels (opsagent.sla): the SLA clocks are recomputed from these
    PENDING = "pending"  # waiting on the requester: assessment and resolution clocks pause
    RESUMED = "resumed"
    ASSESSED = "assessed"  # 问题评估 done: stops the assessment clock
    SIGNED_OFF = "signed_off"  # 用户签字确认 of the repair service report
    FOLLOWED_UP = "followed_up"  # 维修结果复查: call-back with satisfaction
    ARCHIVED = "archived"
    ON_SITE = "on_site"  # an engineer arrived on site: stops a contract's on-site clock
    FLAGGED = "flagged"  # the desk flagged the ticket (outside its contract's scope, contract expired)


class Category(StrEnum):
    SOFTWARE = "software"
    HARDWARE = "hardware"
    NETWORK = "network"
    OTHER = "other"


class RequesterType(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"


PRIORITIES = ("P1", "P2", "P3", "P4")
_SEVERITY_PRIORITY = {
    "critical": "P1",
    "emergency": "P1",
    "disaster": "P1",
    "high": "P2",
    "error": "P2",
    "major": "P2",
    "warning": "P3",
    "average": "P3",
    "minor": "P3",
    "info": "P4",
    "information": "P4",
    "none": "P4",
}


def priority_of(labels: Mapping[str, str]) -> str:
    """A ``priority`` label (P1..P4) wins; else from ``severity`` as Zabbix/Alertmanager name them."""
    explicit = labels.get("priority", "").upper()
    if explicit in PRIORITIES:
        return explicit
    return _SEVERITY_PRIORITY.get(labels.get("severity", "").lower(), "P3")


def category_of(labels: Mapping[str, str]) -> str:
    value = labels.get("category", "").lower()
    return value if value in Category.__members__.values() else Category.OTHER.value


def requester_of(labels: Mapping[str, str]) -> str:
    value = labels.get("requester_type", "").lower()
    return value if value in RequesterType.__members__.values() else RequesterType.INTERNAL.value


def asset_of(labels: Mapping[str, str]) -> str | None:
    """Our samples carry ``asset``; Prometheus alerts usually carry ``instance`` (host:port)."""
    if labels.get("asset"):
        return labels["asset"]
    instance = labels.get("instance", "")
    return instance.rsplit(":", 1)[0] if instance else None
