"""服务协议报告 — the service-level report of one service contract over a period, fit to show the customer:
per target (response, resolution, on-site …) how many tickets met it, how many breached it, the
compliance rate, and every breach listed (ticket, target, due, when it was done, by how much it overran).

The figures are those of the SLA clocks (the contract's targets on the contract's calendar, replayed
from each ticket's event log at the report's time); ticket text is masked as in every report that
leaves for third parties.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select

from opsagent.desk.contracts import Contract
from opsagent.desk.privacy import for_third_parties
from opsagent.reports.document import Document, Fields, Heading, Para, Table
from opsagent.reports.i18n import t
from opsagent.reports.repair import duration, local, zone_text
from opsagent.sla import service
from opsagent.sla.clocktypes import Clock
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store


@dataclass(frozen=True)
class Breach:
    incident_id: int
    title: str
    priority: str
    target: str
    due: datetime | None
    done: datetime | None  # when the clock stopped (None: still running)
    overrun: float  # working seconds past the budget

    def as_dict(self) -> dict[str, Any]:
        return {"incident": self.incident_id, "title": self.title, "priority": self.priority, "target": self.target,
                "due": self.due.isoformat() if self.due else None, "done": self.done.isoformat() if self.done else None,
                "overrun_seconds": round(self.overrun, 3)}  # fmt: skip


@dataclass
class ContractStats:
    name: str
    contract: Contract
    start: datetime
    end: datetime
    tickets: int = 0
    targets: list[str] = field(default_factory=list)
    met: Counter[str] = field(default_factory=Counter)
    breached: Counter[str] = field(default_factory=Counter)
    running: Counter[str] = field(default_factory=Counter)
    breaches: list[Breach] = field(default_factory=list)

    def compliance(self, target: str) -> float | None:
        decided = self.met[target] + self.breached[target]
        return self.met[target] / decided if decided else None

    def summary(self) -> dict[str, Any]:
        c = self.contract
        return {
            "contract": self.name, "organisation": c.organisation,
            "valid_from": c.valid_from.isoformat(), "valid_until": c.valid_until.isoformat(),
            "from": self.start.isoformat(), "to": self.end.isoformat(), "tickets": self.tickets,
            "sla": {n: {"met": self.met[n], "breached": self.breached[n], "running": self.running[n],
                        "compliance": self.compliance(n)} for n in self.targets},
            "breaches": [b.as_dict() for b in self.breaches],
        }  # fmt: skip


def contract_stats(
    name: str, contract: Contract, incidents: Iterable[Mapping[str, Any]], start: datetime, end: datetime
) -> ContractStats:
    """Pure: the tickets the contract covered (each with ``id title source priority clocks``)."""
    stats = ContractStats(name, contract, start, end)
    seen: set[str] = set(contract.targets.model_dump(exclude_none=True))
    for incident in incidents:
        stats.tickets += 1
        clocks: Mapping[str, Clock] = incident.get("clocks") or {}
        for target, clock in clocks.items():
            seen.add(target)
            if clock.breached:
                stats.breached[target] += 1
                stats.breaches.append(_breach(incident, target, clock))
            elif clock.met:
                stats.met[target] += 1
            else:
                stats.running[target] += 1
    stats.targets = [n for n in TARGETS if n in seen] + sorted(seen - set(TARGETS))
    order = {n: k for k, n in enumerate(stats.targets)}
    stats.breaches.sort(key=lambda b: (b.incident_id, order[b.target]))
    return stats


def _breach(incident: Mapping[str, Any], target: str, clock: Clock) -> Breach:
    title = for_third_parties(str(incident.get("title") or ""), str(incident.get("source") or ""))
    done = clock.stopped_at if clock.state == "stopped" else None
    return Breach(int(incident["id"]), title, str(incident.get("priority") or ""), target, clock.due, done,
                  max(0.0, clock.used - clock.budget))  # fmt: skip


def load_contract_stats(
    store: Store, policy: ServiceLevelPolicy, name: str, start: datetime, end: datetime, now: datetime
) -> ContractStats:
    """The contract's tickets opened in [start, end), their clocks evaluated at ``now``."""
    contract = policy.contracts.get(name)
    if not isinstance(contract, Contract):
        raise KeyError(name)
    i = schema.incidents.c
    with store.engine.connect() as conn:
        ids = conn.execute(
            select(i.id).where(i.contract == name, i.opened_at >= start, i.opened_at < end).order_by(i.id)
        ).scalars().all()  # fmt: skip
    found = [service.get(store, policy, int(iid), now) for iid in ids]
    return contract_stats(name, contract, [f for f in found if f is not None], start, end)


def _pct(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "—"


def build(stats: ContractStats, lang: str, tz: tzinfo, generated: datetime) -> Document:
    c = stats.contract
    doc = Document(f"{t('contract_report', lang)} {stats.name}", lang)
    terms = ", ".join(
        f"{t(k, lang) if k in TARGETS else k} {duration(v, lang) if isinstance(v, int | float) else v}"
        for k, v in c.targets.model_dump(exclude_none=True).items()
    )
    doc.add(
        Heading(t("summary", lang)),
        Fields(
            [
                (t("contract", lang), stats.name),
                (t("organisation", lang), c.organisation),
                (t("validity", lang), f"{c.valid_from} — {c.valid_until}"),
                (t("contract_targets", lang), terms),
                (t("period", lang), f"{local(stats.start, tz)} — {local(stats.end, tz)}"),
                (t("generated", lang), local(generated, tz)),
                (t("timezone", lang), zone_text(tz)),
                (t("tickets", lang), stats.tickets),
            ]
        ),
        Heading(t("compliance", lang)),
        Table(
            [t("target", lang), t("met", lang), t("breached", lang), t("in_progress", lang), t("rate", lang)],
            [
                [
                    t(n, lang) if n in TARGETS else n,
                    stats.met[n],
                    stats.breached[n],
                    stats.running[n],
                    _pct(stats.compliance(n)),
                ]
                for n in stats.targets
            ],
        ),
        Heading(t("breaches", lang)),
    )
    if not stats.breaches:
        doc.add(Para(t("none", lang)))
        return doc
    doc.add(
        Table(
            [
                t("ticket", lang),
                t("title", lang),
                t("priority", lang),
                t("target", lang),
                t("due", lang),
                t("done_at", lang),
                t("overrun", lang),
            ],
            [
                [
                    f"#{b.incident_id}",
                    b.title,
                    b.priority,
                    t(b.target, lang) if b.target in TARGETS else b.target,
                    local(b.due, tz),
                    local(b.done, tz) if b.done else t("not_yet", lang),
                    duration(b.overrun, lang),
                ]
                for b in stats.breaches
            ],
        )
    )
    return doc
