"""Articles in the store: create, edit (every edit a new version), publish/retire, views and votes.

Each write is one transaction that also rewrites the article's search documents and an audit row, so the
index never lags the article.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from opsagent.knowledge import index
from opsagent.knowledge.model import LINK_FIELDS, Change, KnowledgeError, Links, Meta, Translation
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

A, T, L, V = schema.kb_articles, schema.kb_translations, schema.kb_links, schema.kb_versions
W = schema.kb_votes


def _links(conn: Connection, article_id: int) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {f: [] for f in LINK_FIELDS}
    field_of = {kind: f for f, kind in LINK_FIELDS.items()}
    rows = conn.execute(select(L.c.kind, L.c.value).where(L.c.article_id == article_id).order_by(L.c.kind, L.c.value))
    for kind, value in rows:
        if kind in field_of:
            out[field_of[kind]].append(int(value) if kind == "incident" else value)
    out["incidents"].sort()
    return out


def _meta(conn: Connection, article_id: int) -> dict[str, Any]:
    row = conn.execute(select(A).where(A.c.id == article_id)).first()
    if row is None:
        raise KnowledgeError(f"no article #{article_id}")
    keep = ("key", "status", "visibility", "category", "tags")
    return {k: row._mapping[k] for k in keep} | _links(conn, article_id)


def _translations(conn: Connection, article_id: int) -> dict[str, dict[str, str]]:
    rows = conn.execute(select(T.c.lang, T.c.title, T.c.body).where(T.c.article_id == article_id).order_by(T.c.lang))
    return {r.lang: {"title": r.title, "body": r.body} for r in rows}


def _set_links(conn: Connection, article_id: int, links: Links) -> None:
    conn.execute(delete(L).where(L.c.article_id == article_id))
    rows = [{"article_id": article_id, "kind": k, "value": v} for k, v in sorted(links.rows())]
    if rows:
        conn.execute(insert(L), rows)


def _version(conn: Connection, article_id: int, actor: str, note: str) -> int:
    """Record the article as it is now as its next version (one row per translation)."""
    at = now()
    version = int(conn.execute(select(A.c.version).where(A.c.id == article_id)).scalar_one()) + 1
    meta = _meta(conn, article_id)
    rows = [
        {
            "article_id": article_id,
            "version": version,
            "lang": lang,
            "title": t["title"],
            "body": t["body"],
            "meta": meta,
            "author": actor,
            "at": at,
            "note": note,
        }
        for lang, t in _translations(conn, article_id).items()
    ]
    conn.execute(insert(V), rows)
    conn.execute(update(A).where(A.c.id == article_id).values(version=version, updated_by=actor, updated_at=at))
    index.reindex_article(conn, article_id)
    return version


def create_in(
    conn: Connection,
    meta: Meta,
    translations: list[Translation],
    actor: str,
    note: str = "",
    source_incident: int | None = None,
) -> int:
    langs = [t.lang for t in translations]
    if len(set(langs)) != len(langs):
        raise KnowledgeError("one translation per language")
    at = now()
    key = meta.key or f"new-{uuid.uuid4().hex}"
    if conn.execute(select(A.c.id).where(A.c.key == key)).first() is not None:
        raise KnowledgeError(f"an article with key {key!r} exists")
    values = {
        "key": key,
        "status": meta.status,
        "visibility": meta.visibility,
        "category": meta.category,
        "tags": list(meta.tags),
        "version": 0,
        "source_incident": source_incident,
        "created_by": actor,
        "created_at": at,
        "updated_by": actor,
        "updated_at": at,
    }
    inserted = conn.execute(insert(A).values(**values)).inserted_primary_key
    assert inserted is not None
    article_id = int(inserted[0])
    if meta.key is None:
        conn.execute(update(A).where(A.c.id == article_id).values(key=f"kb-{article_id}"))
    conn.execute(insert(T), [{"article_id": article_id, **t.model_dump(), "updated_at": at} for t in translations])
    _set_links(conn, article_id, meta)
    _version(conn, article_id, actor, note or "created")
    _audit(conn, actor, "kb.create", article_id, {"langs": langs})
    return article_id


def _sorted(meta: dict[str, Any]) -> dict[str, Any]:
    return meta | {f: sorted(meta[f]) for f in LINK_FIELDS}


def upsert_in(conn: Connection, meta: Meta, translations: list[Translation], actor: str, note: str) -> str:
    """Make the article ``meta.key`` exactly this (an import): "created", "updated" or "unchanged"."""
    assert meta.key is not None
    found = conn.execute(select(A.c.id).where(A.c.key == meta.key)).scalar()
    if found is None:
        create_in(conn, meta, translations, actor, note)
        return "created"
    article_id = int(found)
    wanted = {t.lang: {"title": t.title, "body": t.body} for t in translations}
    current = _meta(conn, article_id)
    if _sorted(current) == _sorted(meta.model_dump()) and _translations(conn, article_id) == wanted:
        return "unchanged"
    values = {k: getattr(meta, k) for k in ("status", "visibility", "category", "tags")}
    conn.execute(update(A).where(A.c.id == article_id).values(**values))
    conn.execute(delete(T).where(T.c.article_id == article_id))
    conn.execute(
        insert(T), [{"article_id": article_id, "lang": k, **v, "updated_at": now()} for k, v in wanted.items()]
    )
    _set_links(conn, article_id, meta)
    version = _version(conn, article_id, actor, note)
    _audit(conn, actor, "kb.import", article_id, {"version": version})
    return "updated"


def create(store: Store, meta: Meta, translations: list[Translation], actor: str, note: str = "") -> int:
    with store.transaction() as conn:
        return create_in(conn, meta, translations, actor, note)


def _audit(conn: Connection, actor: str, action: str, article_id: int, detail: dict[str, Any]) -> None:
    conn.execute(
        insert(schema.audit).values(at=now(), actor=actor, action=action, target=f"kb:{article_id}", detail=detail)
    )


def _apply_translation(conn: Connection, article_id: int, change: Change, existing: dict[str, dict[str, str]]) -> bool:
    if change.title is None and change.body is None:
        return False
    if change.lang is None:
        if len(existing) != 1:
            raise KnowledgeError("say which translation to change (lang: zh or en)")
        lang = next(iter(existing))
    else:
        lang = change.lang
    old = existing.get(lang)
    if old is None and change.title is None:
        raise KnowledgeError(f"a new {lang} translation needs a title")
    new = {
        "title": change.title if change.title is not None else old["title"],  # type: ignore[index]
        "body": change.body if change.body is not None else (old or {}).get("body", ""),
    }
    if new == old:
        return False
    if old is None:
        conn.execute(insert(T).values(article_id=article_id, lang=lang, updated_at=now(), **new))
    else:
        where = (T.c.article_id == article_id) & (T.c.lang == lang)
        conn.execute(update(T).where(where).values(updated_at=now(), **new))
    return True


def _apply_meta(conn: Connection, article_id: int, change: Change, meta: dict[str, Any]) -> bool:
    given = change.model_dump(exclude_none=True, include={"visibility", "category", "tags", *LINK_FIELDS})
    wanted = meta | given
    if wanted == meta:
        return False
    article = {k: wanted[k] for k in ("visibility", "category", "tags")}
    conn.execute(update(A).where(A.c.id == article_id).values(**article))
    _set_links(conn, article_id, Links(**{f: wanted[f] for f in LINK_FIELDS}))
    return True


def edit(store: Store, article_id: int, change: Change, actor: str) -> int | None:
    """Apply an edit; returns the new version number, or None when nothing changed."""
    with store.transaction() as conn:
        meta = _meta(conn, article_id)
        text_changed = _apply_translation(conn, article_id, change, _translations(conn, article_id))
        meta_changed = _apply_meta(conn, article_id, change, meta)
        if not (text_changed or meta_changed):
            return None
        version = _version(conn, article_id, actor, change.note or "edited")
        _audit(conn, actor, "kb.edit", article_id, {"version": version})
        return version


def set_status(store: Store, article_id: int, status: str, actor: str, note: str = "") -> int | None:
    """Publish, retire or put back to draft; a new version, or None when it already was."""
    with store.transaction() as conn:
        if _meta(conn, article_id)["status"] == status:
            return None
        conn.execute(update(A).where(A.c.id == article_id).values(status=status))
        version = _version(conn, article_id, actor, note or status)
        _audit(conn, actor, f"kb.{status}", article_id, {"version": version})
        return version


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("created_at", "updated_at", "at"):
        if data.get(key) is not None:
            data[key] = as_utc(data[key])
    return data


def get(store: Store, article_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(A).where(A.c.id == article_id)).first()
        if row is None:
            return None
        return _row(row) | _links(conn, article_id) | {"translations": _translations(conn, article_id)}


def by_key(store: Store, key: str) -> int | None:
    with store.engine.connect() as conn:
        found = conn.execute(select(A.c.id).where(A.c.key == key)).scalar()
    return int(found) if found is not None else None


def title_of(translations: dict[str, dict[str, str]], lang: str) -> str:
    if not translations:
        return ""
    return (translations.get(lang) or next(iter(translations.values())))["title"]


def list_articles(store: Store, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(A).order_by(A.c.id.desc()).limit(limit)
    if status:
        query = query.where(A.c.status == status)
    with store.engine.connect() as conn:
        rows = [_row(r) for r in conn.execute(query)]
        titles: dict[int, dict[str, dict[str, str]]] = {}
        ids = [r["id"] for r in rows]
        for t in conn.execute(select(T.c.article_id, T.c.lang, T.c.title).where(T.c.article_id.in_(ids))):
            titles.setdefault(t.article_id, {})[t.lang] = {"title": t.title}
    return [r | {"titles": {k: v["title"] for k, v in titles.get(r["id"], {}).items()}} for r in rows]


def all_ids(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return [int(i) for i in conn.execute(select(A.c.id).order_by(A.c.id)).scalars()]


def versions(store: Store, article_id: int) -> list[dict[str, Any]]:
    query = select(V).where(V.c.article_id == article_id).order_by(V.c.version, V.c.lang)
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def count_view(store: Store, article_id: int) -> None:
    with store.transaction() as conn:
        conn.execute(update(A).where(A.c.id == article_id).values(views=A.c.views + 1))


def vote(store: Store, article_id: int, helpful: bool, actor: str) -> dict[str, int]:
    """Count ``actor``'s vote: one per user and article (``kb_votes``). A second vote replaces the first,
    so the counters move from one side to the other; the same vote again changes nothing."""
    voter = actor[:255]
    mine = (W.c.article_id == article_id) & (W.c.voter == voter)
    with store.transaction() as conn:
        # an update first: it locks the article's row (PostgreSQL) or the database (SQLite), so two votes
        # of one user at once are counted one after the other, never both as a first vote
        if conn.execute(update(A).where(A.c.id == article_id).values(helpful=A.c.helpful)).rowcount == 0:
            raise KnowledgeError(f"no article #{article_id}")
        before = conn.execute(select(W.c.helpful).where(mine)).scalar()
        counts: dict[str, Any] = {}
        if before is None:
            conn.execute(insert(W).values(article_id=article_id, voter=voter, helpful=helpful, at=now()))
            counts = {_side(helpful): A.c[_side(helpful)] + 1}
        elif bool(before) != helpful:
            conn.execute(update(W).where(mine).values(helpful=helpful, at=now()))
            counts = {_side(helpful): A.c[_side(helpful)] + 1, _side(not helpful): A.c[_side(not helpful)] - 1}
        if counts:
            conn.execute(update(A).where(A.c.id == article_id).values(counts))
        previous = None if before is None else bool(before)
        _audit(conn, actor, "kb.vote", article_id, {"helpful": helpful, "previous": previous})
        row = conn.execute(select(A.c.helpful, A.c.not_helpful, A.c.views).where(A.c.id == article_id)).one()
    return {"helpful": row.helpful, "not_helpful": row.not_helpful, "views": row.views}


def _side(helpful: bool) -> str:
    return "helpful" if helpful else "not_helpful"


def vote_of(store: Store, article_id: int, voter: str) -> bool | None:
    """``voter``'s vote on the article: True (helpful), False, or None (none yet)."""
    query = select(W.c.helpful).where(W.c.article_id == article_id, W.c.voter == voter[:255])
    with store.engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else bool(found)


def count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(A)).scalar_one())
