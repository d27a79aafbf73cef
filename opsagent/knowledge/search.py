"""Full-text search over articles and resolved incidents, the same answers on SQLite and PostgreSQL.

The query is cut into words (:mod:`segment`) and every word must match (``any_word`` for suggestions:
at least one). SQLite answers from FTS5 (``bm25``, the title weighing 4× the body), PostgreSQL from the
GIN-indexed tsvector (``ts_rank``, title weight A, body B). Documents that hold the whole query as written
(spaces aside) come first, and within that, published knowledge before ticket history. When no document
has every word, those with some of them are ranked (``打印任务卡住`` still finds the article that says
卡在); when none has any (one character, a word the dictionary splits differently), a substring scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, bindparam, text

from opsagent.errors import UsageError
from opsagent.knowledge.index import sync_incidents
from opsagent.knowledge.segment import flat, query_words
from opsagent.knowledge.snippet import MAX_TITLE, Snippet, make
from opsagent.store.engine import Store

MAX_QUERY = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LIMIT = 200


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ("article", "incident")
    statuses: tuple[str, ...] = ("published",)  # of articles; incidents in the index are resolved or closed
    lang: str | None = None
    visibility: str | None = None  # requesters: only what requesters may read


@dataclass(frozen=True)
class Hit:
    kind: str
    ref: int
    lang: str
    title: str
    status: str
    score: float
    phrase: bool
    snippet: Snippet
    title_marked: Snippet

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.ref,
            "lang": self.lang,
            "title": self.title,
            "status": self.status,
            "score": round(self.score, 4),
            "phrase": self.phrase,
            "snippet": self.snippet.text,
            "snippet_html": self.snippet.html,
            "title_html": self.title_marked.html,
        }


def _where(filters: Filters) -> tuple[str, dict[str, Any]]:
    sql = " AND s.kind IN :kinds AND (s.kind = 'incident' OR s.status IN :statuses)"
    params: dict[str, Any] = {"kinds": list(filters.kinds), "statuses": list(filters.statuses)}
    if filters.lang:
        sql += " AND (s.kind = 'incident' OR s.lang = :lang)"
        params["lang"] = filters.lang
    if filters.visibility:
        sql += " AND s.visibility = :visibility"
        params["visibility"] = filters.visibility
    return sql, params


def _fts5_match(words: list[str], any_word: bool) -> str:
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    return (" OR " if any_word else " AND ").join(quoted)


_COLUMNS = "s.kind, s.ref, s.lang, s.title, s.body, s.status"
_ORDER = "ORDER BY phrase DESC, s.kind = 'article' DESC, rank"
_ORDER_ANY = "ORDER BY phrase DESC, rank"  # some words: the more of them (rank) the better, whatever the kind


def _sqlite(where: str, any_word: bool) -> TextClause:
    return text(
        f"SELECT {_COLUMNS}, instr(s.flat, :qflat) > 0 AS phrase, -bm25(kb_fts, 4.0, 1.0) AS rank "
        f"FROM kb_fts JOIN kb_search s ON s.id = kb_fts.rowid WHERE kb_fts MATCH :match{where} "
        f"{_ORDER_ANY if any_word else _ORDER} DESC "
        "LIMIT :limit"
    )


def _postgres(where: str, words: int, any_word: bool) -> TextClause:
    join = " || " if any_word else " && "
    query = join.join(f"plainto_tsquery('simple', :w{i})" for i in range(words))
    return text(
        f"SELECT {_COLUMNS}, strpos(s.flat, :qflat) > 0 AS phrase, ts_rank(s.tsv, q.q) AS rank "
        f"FROM kb_search s, (SELECT {query} AS q) q WHERE s.tsv @@ q.q{where} "
        f"{_ORDER_ANY if any_word else _ORDER} DESC LIMIT :limit"
    )


def _substring(conn: Connection, where: str) -> TextClause:
    find = "strpos(s.flat, :qflat)" if conn.dialect.name == "postgresql" else "instr(s.flat, :qflat)"
    return text(
        f"SELECT {_COLUMNS}, true AS phrase, 1.0 AS rank FROM kb_search s WHERE {find} > 0{where} "
        f"{_ORDER} DESC, s.id DESC LIMIT :limit"
    )


def _rows(conn: Connection, words: list[str], qflat: str, filters: Filters, limit: int, any_word: bool) -> list[Any]:
    where, params = _where(filters)
    params |= {"qflat": qflat, "limit": limit}
    if conn.dialect.name == "postgresql":
        statement = _postgres(where, len(words), any_word)
        params |= {f"w{i}": w for i, w in enumerate(words)}
    else:
        statement = _sqlite(where, any_word)
        params["match"] = _fts5_match(words, any_word)
    statement = statement.bindparams(bindparam("kinds", expanding=True), bindparam("statuses", expanding=True))
    rows = list(conn.execute(statement, params)) if words else []
    if not rows and not any_word and len(words) > 1:
        return _rows(conn, words, qflat, filters, limit, any_word=True)
    if not rows and not any_word and qflat:
        fallback = _substring(conn, where).bindparams(
            bindparam("kinds", expanding=True), bindparam("statuses", expanding=True)
        )
        rows = list(conn.execute(fallback, {k: v for k, v in params.items() if not k.startswith(("w", "match"))}))
    return rows


def search(
    store: Store, query: str, filters: Filters | None = None, limit: int = 20, any_word: bool = False, sync: bool = True
) -> list[Hit]:
    """The best ``limit`` documents for ``query``, best first; one hit per article (its best translation)."""
    query = _CONTROL.sub(" ", query).strip()
    if not query:
        raise UsageError("the search query is empty")
    if len(query) > MAX_QUERY:
        raise UsageError(f"the search query is longer than {MAX_QUERY} characters")
    limit = max(1, min(limit, MAX_LIMIT))
    if sync:
        sync_incidents(store)
    words = query_words(query)
    marks = words or [flat(query)]
    with store.engine.connect() as conn:
        rows = _rows(conn, words, flat(query), filters or Filters(), limit * 2, any_word)
    hits: dict[tuple[str, int], Hit] = {}
    for r in rows:
        if (r.kind, r.ref) not in hits:
            hits[(r.kind, r.ref)] = Hit(
                r.kind,
                int(r.ref),
                r.lang,
                r.title,
                r.status,
                float(r.rank),
                bool(r.phrase),
                make(r.body or r.title, marks),
                make(r.title, marks, MAX_TITLE),
            )
    return list(hits.values())[:limit]
