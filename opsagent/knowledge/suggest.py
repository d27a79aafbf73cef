"""Suggestions: when an incident opens, the published articles that best match it are attached to it.

An article is a candidate when it names the incident's alert, or when its text shares at least half of
the words of the incident's title and description; its asset kind and groups matching the incident's
asset add to the score. The engineer's use of one (linking it to the incident) is recorded on it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from opsagent.knowledge import repo as articles
from opsagent.knowledge.model import KnowledgeError
from opsagent.knowledge.search import Filters, search
from opsagent.knowledge.segment import flat, query_words
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

log = logging.getLogger(__name__)
LIMIT = 3
WEIGHTS = {"alert": 3.0, "asset_kind": 0.5, "asset_group": 0.5}
TEXT_WEIGHT = 2.0
MIN_COVERAGE = 0.5
EVENT_KIND = "knowledge"


def _incident(conn: Connection, incident_id: int) -> Any:
    i = schema.incidents.c
    row = conn.execute(select(i.id, i.alertname, i.asset, i.title, i.description).where(i.id == incident_id)).first()
    if row is None:
        raise KnowledgeError(f"no incident #{incident_id}")
    return row


def _asset(conn: Connection, name: str | None) -> tuple[str | None, list[str]]:
    if not name:
        return None, []
    a = schema.assets.c
    row = conn.execute(select(a.kind, a.groups).where(a.name == name)).first()
    return (row.kind, list(row.groups or [])) if row is not None else (None, [])


def _link_scores(conn: Connection, incident: Any, kind: str | None, groups: list[str]) -> dict[int, dict[str, Any]]:
    lk, a = schema.kb_links.c, schema.kb_articles.c
    wanted = [and_(lk.kind == "alert", lk.value == incident.alertname)]
    if kind:
        wanted.append(and_(lk.kind == "asset_kind", lk.value == kind))
    if groups:
        wanted.append(and_(lk.kind == "asset_group", lk.value.in_(groups)))
    query = (
        select(lk.article_id, lk.kind, lk.value)
        .select_from(schema.kb_links.join(schema.kb_articles, a.id == lk.article_id))
        .where(a.status == "published", or_(*wanted))
    )
    found: dict[int, dict[str, Any]] = {}
    for article_id, link_kind, value in conn.execute(query):
        entry = found.setdefault(int(article_id), {"score": 0.0, "reasons": []})
        entry["score"] += WEIGHTS[link_kind]
        entry["reasons"].append(f"{link_kind}:{value}")
    return found


def _text_scores(store: Store, incident: Any) -> dict[int, float]:
    text = f"{incident.title} {incident.description or ''}"[:500]
    words = query_words(text)
    if not words:
        return {}
    hits = search(store, text, Filters(kinds=("article",)), limit=10, any_word=True, sync=False)
    s = schema.kb_search.c
    query = select(s.ref, s.flat).where(s.kind == "article", s.ref.in_([h.ref for h in hits]))
    with store.engine.connect() as conn:
        texts = conn.execute(query).all()
    scores: dict[int, float] = {}
    for ref, text_flat in texts:  # the share of the incident's words the article holds (its best translation)
        coverage = sum(1 for w in words if flat(w) in text_flat) / len(words)
        if coverage >= MIN_COVERAGE:
            scores[int(ref)] = max(scores.get(int(ref), 0.0), round(coverage, 3))
    return scores


_ANY_PUBLISHED = select(schema.kb_articles.c.id).where(schema.kb_articles.c.status == "published").limit(1)


def any_published(conn: Connection) -> bool:
    """Whether there is anything to suggest: one indexed lookup (a constant statement)."""
    return conn.execute(_ANY_PUBLISHED).first() is not None


def rank(store: Store, incident_id: int, limit: int = LIMIT) -> list[dict[str, Any]]:
    """The best articles for an incident: ``[{article_id, score, reasons}]``, best first."""
    with store.engine.connect() as conn:
        if not any_published(conn):
            return []  # an empty knowledge base costs an incident one indexed lookup
        incident = _incident(conn, incident_id)
        kind, groups = _asset(conn, incident.asset)
        found = _link_scores(conn, incident, kind, groups)
    for article_id, coverage in _text_scores(store, incident).items():
        entry = found.setdefault(article_id, {"score": 0.0, "reasons": []})
        entry["score"] += TEXT_WEIGHT * coverage
        entry["reasons"].append(f"text:{coverage:g}")
    eligible = {k: v for k, v in found.items() if any(r.startswith(("alert:", "text:")) for r in v["reasons"])}
    best = sorted(eligible.items(), key=lambda kv: (-kv[1]["score"], kv[0]))[:limit]
    return [{"article_id": k, "score": round(v["score"], 3), "reasons": v["reasons"]} for k, v in best]


def attach(store: Store, incident_id: int, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Rank and attach suggestions to an incident (again: only new articles are added)."""
    found = rank(store, incident_id, limit)
    if not found:
        return found  # nothing to add: no write transaction (a commit per opened ticket)
    s = schema.kb_suggestions
    with store.transaction() as conn:
        have = set(conn.execute(select(s.c.article_id).where(s.c.incident_id == incident_id)).scalars())
        rows = [{"incident_id": incident_id, **f, "suggested_at": now()} for f in found if f["article_id"] not in have]
        if rows:
            conn.execute(insert(s), rows)
    return found


def on_opened(store: Store, incident_id: int) -> None:
    """Called when an incident opens: a failure here never stops the incident from opening."""
    try:
        attach(store, incident_id)
    except Exception:  # suggestions are a help: the incident is what matters
        log.exception("knowledge suggestions for incident #%s failed", incident_id)


def on_opened_many(store: Store, incident_ids: list[int]) -> None:
    """:func:`on_opened` for the tickets one commit opened (the email channel's batch): an empty
    knowledge base costs the whole batch one lookup."""
    if not incident_ids:
        return
    try:
        with store.engine.connect() as conn:
            if not any_published(conn):
                return
    except Exception:
        log.exception("knowledge suggestions for incidents #%s… failed", incident_ids[0])
        return
    for incident_id in incident_ids:
        on_opened(store, incident_id)


def for_incident(store: Store, incident_id: int, lang: str = "zh") -> list[dict[str, Any]]:
    """The articles suggested to an incident, with their titles and whether one was used."""
    s, a = schema.kb_suggestions.c, schema.kb_articles.c
    query = (
        select(s.article_id, s.score, s.reasons, s.suggested_at, s.used_at, s.used_by, a.key, a.status)
        .select_from(schema.kb_suggestions.join(schema.kb_articles, a.id == s.article_id))
        .where(s.incident_id == incident_id)
        .order_by(s.score.desc(), s.article_id)
    )
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["title"] = articles.title_of(articles._translations(conn, row["article_id"]), lang)
            for key in ("suggested_at", "used_at"):
                row[key] = as_utc(row[key]) if row[key] is not None else None
    return rows


def link(store: Store, article_id: int, incident_id: int, actor: str) -> bool:
    """The engineer used an article on an incident: link them, mark the suggestion used, note it on the
    incident's log. Returns whether the article had been suggested."""
    s = schema.kb_suggestions.c
    with store.transaction() as conn:
        meta = articles._meta(conn, article_id)
        _incident(conn, incident_id)
        if incident_id not in meta["incidents"]:
            conn.execute(insert(schema.kb_links).values(article_id=article_id, kind="incident", value=str(incident_id)))
        used = conn.execute(
            update(schema.kb_suggestions)
            .where(s.incident_id == incident_id, s.article_id == article_id, s.used_at.is_(None))
            .values(used_at=now(), used_by=actor)
        ).rowcount
        suggested = (
            conn.execute(select(s.article_id).where(s.incident_id == incident_id, s.article_id == article_id)).first()
            is not None
        )
        note_event(
            conn,
            incident_id,
            actor,
            f"knowledge article #{article_id} ({meta['key']}) used",
            article_id,
            suggested=suggested,
        )
        articles._audit(conn, actor, "kb.link", article_id, {"incident": incident_id, "suggested": suggested})
    return bool(used) or suggested


def opened(store: Store, article_id: int, incident_id: int, actor: str) -> bool:
    """The engineer opened an article suggested to an incident from the incident's notification (or its page):
    the suggestion counts as used, once, and the incident's log says so. False when it was not suggested."""
    s = schema.kb_suggestions.c
    with store.transaction() as conn:
        used = conn.execute(
            update(schema.kb_suggestions)
            .where(s.incident_id == incident_id, s.article_id == article_id, s.used_at.is_(None))
            .values(used_at=now(), used_by=actor)
        ).rowcount
        if not used:
            return False
        note_event(conn, incident_id, actor, f"knowledge article #{article_id} opened", article_id, opened=True)
        articles._audit(conn, actor, "kb.open", article_id, {"incident": incident_id})
    return True


def note_event(conn: Connection, incident_id: int, actor: str, message: str, article_id: int, **detail: Any) -> None:
    conn.execute(
        insert(schema.incident_events).values(
            incident_id=incident_id,
            at=now(),
            kind=EVENT_KIND,
            actor=actor,
            message=message,
            detail={"article": article_id, **detail},
        )
    )
    conn.execute(update(schema.incidents).where(schema.incidents.c.id == incident_id).values(updated_at=now()))


def usage(store: Store) -> dict[str, int]:
    s = schema.kb_suggestions.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.used_at)).scalars().all()
    return {"suggested": len(rows), "used": sum(1 for r in rows if r is not None)}
