"""Period statistics (pure): counts, MTTA/MTTR, SLA compliance, top faults, satisfaction.

The service norms ask for a quarterly statistics report 以项目为单位或以故障类型为单位 (by project and
by fault type); we add asset kind, asset, priority and source, as managers of Zabbix/GLPI expect.
SLA compliance is computed from the event log (the truth) — or, for an incident whose every clock
has stopped, taken from the SLA tick's final projection when that is provably what the log gives
(same policy, no event since: see :mod:`opsagent.reports.period`).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsagent.sla.batch import ClockBatch
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


def merge_stats(parts: Iterable[PeriodStats], start: datetime, end: datetime) -> PeriodStats:
    """One period's statistics from those of disjoint shares of its incidents."""
    out = PeriodStats(start, end, by={d: Counter() for d in DIMENSIONS})
    for p in parts:
        out.total += p.total
        out.still_open += p.still_open
        out.followups_open += p.followups_open
        for d in DIMENSIONS:
            out.by[d].update(p.by.get(d, Counter()))
        out.tta += p.tta
        out.ttr += p.ttr
        out.sla_met.update(p.sla_met)
        out.sla_breached.update(p.sla_breached)
        out.faults.update(p.faults)
        out.firings.update(p.firings)
        out.satisfaction.update(p.satisfaction)
    return out


def period_stats(
    incidents: Iterable[tuple[Any, list[tuple[float, str]]]],
    policy: ServiceLevelPolicy,
    start: datetime,
    end: datetime,
    now: datetime,
) -> PeriodStats:
    """Incidents opened in [start, end), each a row with attributes (``id alertname source status
    priority category requester_type asset project complexity firings satisfaction followed_up
    asset_kind``, and ``opened_at acknowledged_at resolved_at`` in epoch seconds) with its event log
    as (epoch seconds, kind); clocks evaluated at ``now`` (the report's time), so an incident opened
    late in the quarter and fixed after it still counts with its real outcome."""
    stats = PeriodStats(start, end, by={d: Counter() for d in DIMENSIONS})
    project, category, asset_kind, by_asset, priority, source = (stats.by[d] for d in DIMENSIONS)
    tta, ttr = stats.tta, stats.ttr
    batch = ClockBatch(now)
    for inc, events in incidents:
        stats.total += 1
        asset = inc.asset or "-"
        project[inc.project or "-"] += 1
        category[inc.category] += 1
        asset_kind[inc.asset_kind or "-"] += 1
        by_asset[asset] += 1
        priority[inc.priority] += 1
        source[inc.source] += 1
        status = inc.status
        if status in ("open", "acknowledged"):
            stats.still_open += 1
        opened = inc.opened_at
        if inc.acknowledged_at is not None:
            tta.append(inc.acknowledged_at - opened)
        if inc.resolved_at is not None:
            ttr.append(inc.resolved_at - opened)
        _add_clocks(batch, stats, inc, events, policy)
        key = (inc.alertname, asset)
        stats.faults[key] += 1
        stats.firings[key] += int(inc.firings or 1)
        if inc.satisfaction:
            stats.satisfaction[int(inc.satisfaction)] += 1
        if status == "resolved" and not inc.followed_up:
            stats.followups_open += 1
    for group in batch.compute():
        for name, clock in group.clocks.items():
            stats.sla_breached[name] += int(clock.breached.sum())
            stats.sla_met[name] += int(clock.met.sum())
    return stats


def _add_clocks(
    batch: ClockBatch, stats: PeriodStats, inc: Any, events: list[tuple[float, str]] | str, policy: ServiceLevelPolicy
) -> None:
    """The incident's clocks join the batch — or, when ``events`` is its stored outcome (the
    tick's final projection, current: see ``outcome_text``), that outcome is counted as it is."""
    if isinstance(events, str):
        for name, flag in zip(TARGETS, events, strict=True):
            if flag == "b":
                stats.sla_breached[name] += 1
            elif flag == "m":
                stats.sla_met[name] += 1
        return
    complex_ = (inc.complexity or "").lower() == "complex"
    profile = (inc.priority, inc.requester_type, complex_)
    batch.add(None, events, profile, policy.budgets(*profile), policy.calendar_for(inc.priority))
