"""Period statistics (pure): counts, MTTA/MTTR, SLA compliance, top faults, satisfaction.

The service norms ask for a quarterly statistics report 以项目为单位或以故障类型为单位 (by project and
by fault type); we add asset kind, asset, priority and source, as managers of Zabbix/GLPI expect.
SLA compliance is computed from the event log (the truth), never from a cached flag.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opsagent.sla.clock import compute_reference
from opsagent.sla.fastclock import fast_outcomes
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy


@dataclass
class PeriodStats:
    start: datetime
    end: datetime
    total: int = 0
    still_open: int = 0
    by: dict[str, Counter[str]] = field(default_factory=dict)
    tta: list[float] = field(default_factory=list)
    ttr: list[float] = field(default_factory=list)
    sla_met: Counter[str] = field(default_factory=Counter)
    sla_breached: Counter[str] = field(default_factory=Counter)
    faults: Counter[tuple[str, str]] = field(default_factory=Counter)
    firings: Counter[tuple[str, str]] = field(default_factory=Counter)
    satisfaction: Counter[int] = field(default_factory=Counter)
    followups_open: int = 0

    @staticmethod
    def _mean(values: list[float]) -> float | None:
        return statistics.fmean(values) if values else None

    @staticmethod
    def _median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def summary(self) -> dict[str, Any]:
        scores = list(self.satisfaction.elements())
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "total": self.total,
            "still_open": self.still_open,
            "mtta_seconds": self._mean(self.tta),
            "median_tta_seconds": self._median(self.tta),
            "mttr_seconds": self._mean(self.ttr),
            "median_ttr_seconds": self._median(self.ttr),
            "by": {k: dict(v.most_common()) for k, v in self.by.items()},
            "sla": {
                name: {
                    "met": self.sla_met[name],
                    "breached": self.sla_breached[name],
                    "compliance": self.compliance(name),
                }
                for name in TARGETS
            },
            "top_faults": [
                {"alertname": a, "asset": b, "incidents": n, "firings": self.firings[(a, b)]}
                for (a, b), n in self.faults.most_common(10)
            ],
            "satisfaction": {
                "responses": len(scores),
                "average": statistics.fmean(scores) if scores else None,
                "scores": {str(k): self.satisfaction[k] for k in range(1, 6)},
            },
            "followups_open": self.followups_open,
        }

    def compliance(self, target: str) -> float | None:
        decided = self.sla_met[target] + self.sla_breached[target]
        return self.sla_met[target] / decided if decided else None


DIMENSIONS = ("project", "category", "asset_kind", "asset", "priority", "source")


def period_stats(
    incidents: Iterable[tuple[Mapping[str, Any], list[tuple[float, str]]]],
    policy: ServiceLevelPolicy,
    start: datetime,
    end: datetime,
    now: datetime,
) -> PeriodStats:
    """Incidents opened in [start, end), each with its event log as (epoch seconds, kind), its service record's
    ``satisfaction`` / ``followed_up_at`` and its ``asset_kind``; clocks evaluated at ``now`` (the
    report's time), so an incident opened late in the quarter and fixed after it still counts with
    its real outcome."""
    stats = PeriodStats(start, end, by={d: Counter() for d in DIMENSIONS})
    by = stats.by
    now_t = now.timestamp()
    for inc, events in incidents:
        stats.total += 1
        labels = inc.get("labels") or {}
        asset = inc.get("asset") or "-"
        by["project"][labels.get("project") or "-"] += 1
        by["category"][inc["category"]] += 1
        by["asset_kind"][inc.get("asset_kind") or "-"] += 1
        by["asset"][asset] += 1
        by["priority"][inc["priority"]] += 1
        by["source"][inc["source"]] += 1
        status = inc["status"]
        if status in ("open", "acknowledged"):
            stats.still_open += 1
        opened = inc["opened_at"]
        if inc.get("acknowledged_at") is not None:
            stats.tta.append((inc["acknowledged_at"] - opened).total_seconds())
        if inc.get("resolved_at") is not None:
            stats.ttr.append((inc["resolved_at"] - opened).total_seconds())
        _sla(stats, inc, events, policy, now_t)
        key = (inc["alertname"], asset)
        stats.faults[key] += 1
        stats.firings[key] += int(inc.get("count") or 1)
        if inc.get("satisfaction"):
            stats.satisfaction[int(inc["satisfaction"])] += 1
        if status == "resolved" and inc.get("followed_up_at") is None:
            stats.followups_open += 1
    return stats


def _sla(
    stats: PeriodStats,
    inc: Mapping[str, Any],
    events: list[tuple[float, str]],
    policy: ServiceLevelPolicy,
    now_t: float,
) -> None:
    complex_ = str((inc.get("labels") or {}).get("complexity", "")).lower() == "complex"
    budgets = policy.budgets(inc["priority"], inc["requester_type"], complex_)
    calendar = policy.calendar_for(inc["priority"])
    outcomes = fast_outcomes(events, budgets, calendar, now_t)
    if outcomes is None:  # outside the calendar's indexed years: the reference clocks
        log = [{"at": datetime.fromtimestamp(t, UTC), "kind": kind} for t, kind in events]
        now = datetime.fromtimestamp(now_t, UTC)
        outcomes = {n: (c.breached, c.met) for n, c in compute_reference(log, budgets, calendar, now).items()}
    for name, (breached, met) in outcomes.items():
        if breached:
            stats.sla_breached[name] += 1
        elif met:
            stats.sla_met[name] += 1
