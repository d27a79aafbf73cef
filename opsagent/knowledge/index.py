"""The search documents (table ``kb_search``): one per article translation and per resolved incident.

Articles are reindexed inside the transaction that changes them. Incidents change in many places
(alerts, people, the SLA tick), and each change appends to their event log; so the index follows that
log: :func:`sync_incidents` reindexes the incidents with events newer than its watermark — a cheap
check when nothing happened, run before each search and suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from opsagent.knowledge.segment import flat, index_words
from opsagent.store import schema
from opsagent.store.engine import Store, now

S = schema.kb_search
DONE = ("resolved", "closed")
WATERMARK = "incident_events"
_CHUNK = 500


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(S)
    columns = {c: stmt.excluded[c] for c in rows[0] if c not in ("kind", "ref", "lang")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["kind", "ref", "lang"], set_=columns), rows)


def document(
    kind: str, ref: int, lang: str, status: str, visibility: str, title: str, body: str, extra: str = ""
) -> dict[str, Any]:
    """A search row: the text as shown, flattened for substring checks, and cut into words."""
    return {
        "kind": kind,
        "ref": ref,
        "lang": lang,
        "status": status,
        "visibility": visibility,
        "title": title,
        "body": body,
        "flat": flat(f"{title}\n{body}\n{extra}"),
        "seg_title": index_words(title),
        "seg_body": index_words(f"{body}\n{extra}"),
        "updated_at": now(),
    }


def reindex_article(conn: Connection, article_id: int) -> None:
    a, t, links = schema.kb_articles, schema.kb_translations, schema.kb_links
    article = conn.execute(select(a).where(a.c.id == article_id)).first()
    langs = []
    if article is not None:
        alerts = conn.execute(select(links.c.value).where(links.c.article_id == article_id, links.c.kind == "alert"))
        extra = " ".join([article.category, *article.tags, *alerts.scalars()])
        rows = []
        for tr in conn.execute(select(t).where(t.c.article_id == article_id)):
            langs.append(tr.lang)
            rows.append(
                document("article", article_id, tr.lang, article.status, article.visibility, tr.title, tr.body, extra)
            )
        _upsert(conn, rows)
    conn.execute(delete(S).where(S.c.kind == "article", S.c.ref == article_id, S.c.lang.not_in(langs or [""])))


def _incident_rows(conn: Connection, ids: list[int]) -> Iterable[Any]:
    i, s = schema.incidents.c, schema.incident_service.c
    query = (
        select(
            i.id,
            i.status,
            i.title,
            i.description,
            i.alertname,
            i.asset,
            i.cause,
            i.resolution_steps,
            s.symptom,
            s.result,
        )
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == i.id))
        .where(i.id.in_(ids))
    )
    return conn.execute(query)


def incident_document(row: Any) -> dict[str, Any]:
    parts = [row.symptom, row.description, row.cause, row.resolution_steps, row.result]
    body = "\n".join(p for p in parts if p)
    extra = " ".join(p for p in (row.alertname, row.asset) if p)
    return document("incident", row.id, "", row.status, "internal", row.title, body, extra)


def reindex_incidents(conn: Connection, ids: list[int]) -> int:
    """Index the resolved/closed ones of ``ids``; drop the others (reopened) from the index."""
    done = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = [incident_document(r) for r in _incident_rows(conn, chunk) if r.status in DONE]
        conn.execute(
            delete(S)
            .where(S.c.kind == "incident", S.c.ref.in_(chunk))
            .where(S.c.ref.not_in([r["ref"] for r in rows] or [0]))
        )
        _upsert(conn, rows)
        done += len(rows)
    return done


def _watermark(conn: Connection) -> tuple[int, int]:
    st, ev = schema.kb_state.c, schema.incident_events.c
    mark = conn.execute(select(st.value).where(st.name == WATERMARK)).scalar() or 0
    top = conn.execute(select(func.max(ev.id))).scalar() or 0
    return int(mark), int(top)


def sync_incidents(store: Store) -> int:
    """Bring the incident documents up to the event log; returns how many were (re)indexed."""
    with store.engine.connect() as conn:
        mark, top = _watermark(conn)
    if top <= mark:
        return 0
    ev, st = schema.incident_events.c, schema.kb_state
    with store.transaction() as conn:
        mark, top = _watermark(conn)
        ids = sorted({int(i) for i in conn.execute(select(ev.incident_id).where(ev.id > mark, ev.id <= top)).scalars()})
        done = reindex_incidents(conn, ids)
        moved = conn.execute(update(st).where(st.c.name == WATERMARK, st.c.value < top).values(value=top))
        if moved.rowcount == 0 and mark == 0:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(st).values(name=WATERMARK, value=top).on_conflict_do_nothing())
    return done


def rebuild(store: Store) -> int:
    """Recompute every search document (after a segmenter upgrade, say)."""
    with store.transaction() as conn:
        conn.execute(delete(S))
        conn.execute(delete(schema.kb_state).where(schema.kb_state.c.name == WATERMARK))
        for article_id in conn.execute(select(schema.kb_articles.c.id)).scalars().all():
            reindex_article(conn, int(article_id))
    return sync_incidents(store)


__all__ = ["document", "rebuild", "reindex_article", "reindex_incidents", "sync_incidents"]
