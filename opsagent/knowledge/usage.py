"""The knowledge report: the most-used articles (views, votes, suggestions made and used) and the frequent
problems with no article — recurring tickets (:mod:`opsagent.knowledge.problem_groups`) that no published
article covers: none linked to their alert, to one of their tickets, used on one of them, or the workaround of
a problem holding one of them. What the team should write next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from opsagent.knowledge import repo
from opsagent.knowledge.problem_groups import MIN_TICKETS, Group, group, load
from opsagent.store import schema
from opsagent.store.engine import Store


def most_used(store: Store, limit: int = 20, lang: str = "zh") -> list[dict[str, Any]]:
    a, s = schema.kb_articles.c, schema.kb_suggestions.c
    suggested = (
        select(s.article_id, func.count().label("suggested"), func.count(s.used_at).label("used"))
        .group_by(s.article_id)
        .subquery()
    )
    used = func.coalesce(suggested.c.used, 0)
    query = (
        select(a.id, a.key, a.status, a.views, a.helpful, a.not_helpful,
               func.coalesce(suggested.c.suggested, 0).label("suggested"), used.label("used"))
        .select_from(schema.kb_articles.outerjoin(suggested, suggested.c.article_id == a.id))
        .where(a.status != "draft")
        .order_by(used.desc(), a.helpful.desc(), a.views.desc(), a.id)
        .limit(limit)
    )  # fmt: skip
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["title"] = repo.title_of(repo._translations(conn, row["id"]), lang)
    return rows


def _covered_incidents(conn: Connection, ids: list[int]) -> set[int]:
    """Tickets a published article covers: linked, used on it, or the workaround of its problem."""
    a, lk, s = schema.kb_articles.c, schema.kb_links.c, schema.kb_suggestions.c
    p, pi = schema.problems.c, schema.problem_incidents.c
    published = select(a.id).where(a.status == "published")
    texts = [str(i) for i in ids]
    linked = select(lk.value).where(lk.kind == "incident", lk.value.in_(texts), lk.article_id.in_(published))
    found = {int(v) for v in conn.execute(linked).scalars()}
    used = select(s.incident_id).where(s.incident_id.in_(ids), s.used_at.is_not(None), s.article_id.in_(published))
    found |= set(conn.execute(used).scalars())
    worked = (
        select(pi.incident_id)
        .select_from(schema.problem_incidents.join(schema.problems, p.id == pi.problem_id))
        .where(pi.incident_id.in_(ids), p.workaround_article.in_(published))
    )
    return found | set(conn.execute(worked).scalars())


def _covered_alerts(conn: Connection, names: list[str]) -> set[str]:
    a, lk = schema.kb_articles.c, schema.kb_links.c
    query = select(lk.value).where(
        lk.kind == "alert", lk.value.in_(names), lk.article_id.in_(select(a.id).where(a.status == "published"))
    )
    return set(conn.execute(query).scalars())


def uncovered(store: Store, since: datetime, min_tickets: int = MIN_TICKETS) -> list[dict[str, Any]]:
    groups = group(load(store, since), min_tickets)
    ids = sorted({i for g in groups for i in g.incidents})
    with store.engine.connect() as conn:
        covered = _covered_incidents(conn, ids)
        alerts = _covered_alerts(conn, sorted({g.key["alertname"] for g in groups if g.kind == "alert"}))

    def open_gap(g: Group) -> bool:
        return not (set(g.incidents) & covered) and g.key.get("alertname") not in alerts

    return [g.as_dict() for g in groups if open_gap(g)]


def report(store: Store, since: datetime, min_tickets: int = MIN_TICKETS, limit: int = 20,
           lang: str = "zh") -> dict[str, Any]:  # fmt: skip
    return {
        "since": since.isoformat(),
        "articles": most_used(store, limit, lang),
        "uncovered": uncovered(store, since, min_tickets)[:limit],
    }
