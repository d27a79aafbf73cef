"""Browsing the knowledge base by category, for a reader: engineers see every article (by state),
requesters only the published ones visible to requesters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select

from opsagent.knowledge.repo import title_of
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc

LIMIT = 500
A, T = schema.kb_articles, schema.kb_translations


@dataclass(frozen=True)
class Audience:
    """Who reads: ``internal`` engineers (any state, filtered by ``states``) or requesters."""

    internal: bool
    states: tuple[str, ...] = ("published",)

    def where(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [A.c.status.in_(self.states if self.internal else ("published",))]
        if not self.internal:
            found.append(A.c.visibility == "requesters")
        return found

    def may_read(self, article: dict[str, Any]) -> bool:
        return self.internal or (article["status"] == "published" and article["visibility"] == "requesters")


def categories(store: Store, audience: Audience) -> list[tuple[str, int]]:
    """(category, number of articles), by name; articles without one under ""."""
    query = select(A.c.category, func.count()).where(*audience.where()).group_by(A.c.category).order_by(A.c.category)
    with store.engine.connect() as conn:
        return [(str(c or ""), int(n)) for c, n in conn.execute(query)]


def articles(store: Store, audience: Audience, category: str | None, lang: str) -> list[dict[str, Any]]:
    """The articles of a category (all when None), most recently updated first, titled in ``lang``."""
    cols = (A.c.id, A.c.key, A.c.status, A.c.visibility, A.c.category, A.c.tags, A.c.views, A.c.helpful,
            A.c.updated_at)  # fmt: skip
    query = select(*cols).where(*audience.where()).order_by(A.c.updated_at.desc(), A.c.id.desc()).limit(LIMIT)
    if category is not None:
        query = query.where(A.c.category == category)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
        titles: dict[int, dict[str, dict[str, str]]] = {}
        ids = [r["id"] for r in rows]
        for t in conn.execute(select(T.c.article_id, T.c.lang, T.c.title).where(T.c.article_id.in_(ids))):
            titles.setdefault(int(t.article_id), {})[t.lang] = {"title": t.title}
    for row in rows:
        row["title"] = title_of(titles.get(row["id"], {}), lang)
        row["updated_at"] = as_utc(row["updated_at"])
    return rows
