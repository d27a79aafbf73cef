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
from collections.abc import Mapping, Sequence
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


DIMENSIONS = ("project", "category", "asset_kind", "asset", "priority", "source", "type", "source_type", "contract",
              "team")  # fmt: skip


def period_stats(
    columns: Mapping[str, Sequence[Any]],
    logs: Sequence[list[tuple[float, str]] | str | None],
    policy: ServiceLevelPolicy,
    start: datetime,
    end: datetime,
    now: datetime,
) -> PeriodStats:
    """Incidents opened in [start, end), as columns (``id alertname source status priority category
    requester_type asset project complexity firings satisfaction followed_up asset_kind``, and
    ``opened_at acknowledged_at resolved_at`` in epoch seconds), each with its event log as (epoch
    seconds, kind) — or, for a settled incident, its stored outcome (a letter per target: m met,
    b breached, - neither), when the caller knows it equals what the log gives. Clocks are evaluated
    at ``now`` (the report's time), so an incident opened late in the quarter and fixed after it
    still counts with its real outcome."""
    stats = PeriodStats(start, end, by={d: Counter() for d in DIMENSIONS})
    dash = _or_dash
    asset = [dash(a) for a in columns["asset"]]
    stats.total = len(asset)
    stats.by["project"].update(map(dash, columns["project"]))
    stats.by["category"].update(columns["category"])
    stats.by["asset_kind"].update(map(dash, columns["asset_kind"]))
    stats.by["asset"].update(asset)
    stats.by["priority"].update(columns["priority"])
    stats.by["source"].update(columns["source"])
    types = [k or "incident" for k in columns["type"]]
    stats.by["type"].update(types)
    stats.by["source_type"].update(f"{s}/{k}" for s, k in zip(columns["source"], types, strict=True))
    stats.by["contract"].update(c for c in columns["contract"] if c)  # tickets each service contract covered
    stats.by["team"].update(c for c in columns.get("team", ()) if c)  # the responsible team (desk routing)
    status = columns["status"]
    stats.still_open = sum(1 for s in status if s in ("open", "acknowledged"))
    opened = columns["opened_at"]
    stats.tta = [a - o for a, o in zip(columns["acknowledged_at"], opened, strict=True) if a is not None]
    stats.ttr = [r - o for r, o in zip(columns["resolved_at"], opened, strict=True) if r is not None]
    faults = list(zip(columns["alertname"], asset, strict=True))
    stats.faults.update(faults)
    for key, firings in zip(faults, columns["firings"], strict=True):
        stats.firings[key] += int(firings or 1)
    stats.satisfaction.update(int(v) for v in columns["satisfaction"] if v)
    stats.followups_open = sum(
        1 for s, done in zip(status, columns["followed_up"], strict=True) if s == "resolved" and not done
    )
    _count_clocks(stats, columns, logs, policy, now)
    return stats


def _or_dash(value: str | None) -> str:
    return value or "-"


def _count_clocks(
    stats: PeriodStats,
    columns: Mapping[str, Sequence[Any]],
    logs: Sequence[list[tuple[float, str]] | str | None],
    policy: ServiceLevelPolicy,
    now: datetime,
) -> None:
    """Met / breached per target: stored outcomes as they are, the other logs' clocks in one batch."""
    batch = ClockBatch(now)
    profiles: dict[tuple[str, str, bool, str, str], tuple[Any, Any]] = {}
    for log, prio, requester, complexity, kind, contract in zip(
        logs, columns["priority"], columns["requester_type"], columns["complexity"], columns["type"],
        columns["contract"], strict=True,
    ):  # fmt: skip
        if isinstance(log, str):
            # an outcome stored before a target existed has fewer letters: the missing ones are "-"
            for name, flag in zip(TARGETS, log, strict=False):
                if flag == "b":
                    stats.sla_breached[name] += 1
                elif flag == "m":
                    stats.sla_met[name] += 1
            continue
        profile = (prio, requester, (complexity or "").lower() == "complex", kind or "incident", contract or "")
        found = profiles.get(profile)
        if found is None:
            found = profiles[profile] = (policy.budgets(*profile), policy.profile_calendar(prio, *profile[3:]))
        batch.add(None, log or (), profile, *found)
    for group in batch.compute():
        for name, clock in group.clocks.items():
            stats.sla_breached[name] += int(clock.breached.sum())
            stats.sla_met[name] += int(clock.met.sum())
