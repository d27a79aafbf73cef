"""Recurring tickets, grouped: the candidates of ``opsagent problem suggest`` and the frequent problems of
the knowledge report.

Two ways a ticket recurs: the same alert on the same asset group (an alert's incident: its alert name and
each group of its asset — an asset in no group stands for itself), or, for a ticket a person raised, the same
category and a similar symptom (the words of title and symptom, cut by rjieba, overlapping by at least
``SIMILAR`` — Jaccard). Grouping is a pure function over rows; loading them is one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from opsagent.knowledge.segment import query_words
from opsagent.store import schema
from opsagent.store.engine import Store

SIMILAR = 0.5
MIN_TICKETS = 3


@dataclass(frozen=True)
class Ticket:
    id: int
    alertname: str
    category: str
    person: bool  # raised by a person (the desk), not by an alert
    groups: tuple[str, ...]
    text: str


@dataclass
class Group:
    kind: str  # alert | symptom
    key: dict[str, str]
    incidents: list[int] = field(default_factory=list)
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.key, "title": self.title, "count": len(self.incidents),
                "incidents": self.incidents}  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(query_words(text))


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _alert_groups(tickets: Iterable[Ticket]) -> list[Group]:
    found: dict[tuple[str, str], Group] = {}
    for t in tickets:
        for g in t.groups:
            group = found.setdefault((t.alertname, g), Group("alert", {"alertname": t.alertname, "asset_group": g}))
            group.incidents.append(t.id)
            group.title = group.title or t.text.split("\n")[0]
    return list(found.values())


def _symptom_groups(tickets: Iterable[Ticket]) -> list[Group]:
    """Each ticket joins the first cluster of its category whose seed's words it resembles; only clusters
    sharing a word with it are compared (an index by category and word), so many tickets stay cheap."""
    clusters: list[tuple[frozenset[str], Group]] = []
    by_word: dict[tuple[str, str], list[int]] = {}
    for t in tickets:
        words = _words(t.text)
        near = sorted({n for w in words for n in by_word.get((t.category, w), ())})
        match = next((n for n in near if _similarity(clusters[n][0], words) >= SIMILAR), None)
        if match is not None:
            clusters[match][1].incidents.append(t.id)
            continue
        for w in words:
            by_word.setdefault((t.category, w), []).append(len(clusters))
        clusters.append((words, Group("symptom", {"category": t.category}, [t.id], t.text.split("\n")[0])))
    return [g for _, g in clusters]


def group(tickets: Sequence[Ticket], min_tickets: int = MIN_TICKETS) -> list[Group]:
    """Groups of at least ``min_tickets``, biggest first; a group whose tickets another (bigger or equal,
    listed earlier) group already holds is left out (an asset in two groups makes one candidate)."""
    by_alert = _alert_groups(t for t in tickets if not t.person)
    by_symptom = _symptom_groups(t for t in tickets if t.person)
    ranked = sorted(
        (g for g in by_alert + by_symptom if len(g.incidents) >= min_tickets),
        key=lambda g: (-len(g.incidents), g.kind, sorted(g.key.items())),
    )
    kept: list[Group] = []
    for g in ranked:
        if not any(set(g.incidents) <= set(k.incidents) for k in kept):
            kept.append(g)
    return kept


def load(store: Store, since: datetime, until: datetime | None = None, unlinked: bool = False) -> list[Ticket]:
    """The tickets opened in [since, until), oldest first (``unlinked``: only those in no problem yet)."""
    i, a, s, d = schema.incidents.c, schema.assets.c, schema.incident_service.c, schema.ticket_details.c
    joined = (
        schema.incidents.outerjoin(schema.assets, a.name == i.asset)
        .outerjoin(schema.incident_service, s.incident_id == i.id)
        .outerjoin(schema.ticket_details, d.incident_id == i.id)
    )
    query = select(i.id, i.alertname, i.category, i.asset, i.title, s.symptom, a.groups, d.incident_id.label("desk"))
    query = query.select_from(joined).where(i.opened_at >= since).order_by(i.opened_at, i.id)
    if until is not None:
        query = query.where(i.opened_at < until)
    if unlinked:
        query = query.where(i.id.not_in(select(schema.problem_incidents.c.incident_id)))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        Ticket(
            id=r.id,
            alertname=r.alertname,
            category=r.category,
            person=r.desk is not None,
            groups=tuple(r.groups or ()) or (r.asset or "",),
            text=f"{r.title}\n{r.symptom or ''}".strip(),
        )
        for r in rows
    ]


def candidates(store: Store, since: datetime, min_tickets: int = MIN_TICKETS) -> list[dict[str, Any]]:
    """``problem suggest``: recurring tickets opened since ``since`` that no problem holds yet."""
    return [g.as_dict() for g in group(load(store, since, unlinked=True), min_tickets)]
