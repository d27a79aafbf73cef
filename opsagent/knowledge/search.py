"""Full-text search over articles and resolved incidents, the same answers on SQLite and PostgreSQL.

The query is cut into words (:mod:`segment`) and every word must match (``any_word`` for suggestions:
at least one). SQLite answers from FTS5 (``bm25``, the title weighing 4× the body), PostgreSQL from the
GIN-indexed tsvector (``ts_rank``, title weight A, body B) over a bounded candidate set per kind (title
matches first; GIN cannot rank, and scoring every match of a broad word was the whole cost). Documents
that hold the whole query as written (spaces aside) come first, and within that, published knowledge
before ticket history. When no document has every word, those with some of them are ranked
(``打印任务卡住`` still finds the article that says 卡在); when none has any (one character, a word the
dictionary splits differently), a substring scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

from opsagent.errors import UsageError
from opsagent.knowledge.index import sync_incidents
from opsagent.knowledge.segment import flat, query_words
from opsagent.knowledge.snippet import MAX_TITLE, Snippet, make
from opsagent.store.engine import Store

MAX_QUERY = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LIMIT = 200
CANDIDATES = 100  # per kind: ranked by the index alone, then reordered by the phrase bonus
PG_CANDIDATES = 400  # PostgreSQL: matches ranked per kind and tier (title, anywhere) — see _pg_candidates
_PG_TITLE = "to_tsvector('simple', s.seg_title)"  # the expression of the title GIN indexes (migration 0013_kbpg)


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


def _fts5_match(words: list[str], any_word: bool, kind: str, filters: Filters) -> str:
    """The FTS5 query: the words in the title or body, and the filters on the indexed columns."""
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    parts = ["{seg_title seg_body} : (" + (" OR " if any_word else " AND ").join(quoted) + ")", f'kind : "{kind}"']
    if kind == "article":
        parts.append("(" + " OR ".join(f'status : "{s}"' for s in filters.statuses if s.isalpha()) + ")")
        if filters.lang:
            parts.append(f'lang : "{filters.lang}"')
    if filters.visibility:
        parts.append(f'visibility : "{filters.visibility}"')
    return " AND ".join(parts)


def _candidates(
    conn: Connection, words: list[str], kind: str, filters: Filters, k: int, any_word: bool
) -> dict[int, float]:
    """SQLite: the ``k`` best documents of one kind by FTS5's bm25 — {search row id: rank}."""
    statement = text(
        "SELECT rowid AS id, -bm25(kb_fts, 4.0, 1.0, 0.0, 0.0, 0.0, 0.0) AS rank FROM kb_fts "
        "WHERE kb_fts MATCH :match ORDER BY rank DESC LIMIT :k"
    )
    params = {"match": _fts5_match(words, any_word, kind, filters), "k": k}
    return {int(r.id): float(r.rank) for r in conn.execute(statement, params)}


def _pg_where(kind: str, filters: Filters) -> str:
    """The filters of one kind, its name written out so the planner picks that kind's partial GIN indexes."""
    sql = f"s.kind = '{kind}'"
    if kind == "article":
        sql += " AND s.status IN :statuses" + (" AND s.lang = :lang" if filters.lang else "")
    return sql + (" AND s.visibility = :visibility" if filters.visibility else "")


def _pg_candidates(conn: Connection, words: list[str], filters: Filters, k: int, any_word: bool) -> dict[int, float]:
    """PostgreSQL: the ``k`` best of each kind by ``ts_rank``, in one statement — {search row id: rank}.

    GIN finds matches but cannot rank them, and ranking every match of a broad word (打印: one document in
    five) reads and scores thousands of rows. So each kind ranks a bounded set: the first ``PG_CANDIDATES``
    documents whose title has the words (for one word, a title match outranks any body-only one: weight A vs B)
    and the first ``PG_CANDIDATES`` with them anywhere. Below that many matches, every match is ranked."""
    join = " || " if any_word else " && "
    query = join.join(f"plainto_tsquery('simple', :w{i})" for i in range(len(words)))
    cap = max(PG_CANDIDATES, k)
    branches = [
        f"(SELECT s.id, s.kind, ts_rank(s.tsv, q.q) AS rank FROM kb_search s, q WHERE {match} @@ q.q "
        f"AND {_pg_where(kind, filters)} LIMIT {cap})"
        for kind in filters.kinds
        if kind in ("article", "incident")
        for match in (_PG_TITLE, "s.tsv")
    ]
    if not branches:
        return {}
    statement = text(
        f"WITH q AS (SELECT {query} AS q) SELECT id, rank FROM (SELECT id, rank, row_number() OVER "
        f"(PARTITION BY kind ORDER BY rank DESC, id) AS n FROM ({' UNION '.join(branches)}) m) r WHERE n <= :k"
    )
    if "article" in filters.kinds:
        statement = statement.bindparams(bindparam("statuses", expanding=True))
    params: dict[str, Any] = {f"w{i}": w for i, w in enumerate(words)} | {"k": k, "statuses": list(filters.statuses)}
    params |= {"lang": filters.lang, "visibility": filters.visibility}
    return {int(r.id): float(r.rank) for r in conn.execute(statement, params)}


def _find(conn: Connection) -> str:
    return "strpos(s.flat, :qflat)" if conn.dialect.name == "postgresql" else "instr(s.flat, :qflat)"


_COLUMNS = "s.id, s.kind, s.ref, s.lang, s.title, s.body, s.status"


def _ranked(conn: Connection, words: list[str], qflat: str, filters: Filters, k: int, any_word: bool) -> list[Any]:
    """Two steps: the best candidates of each kind from the index, then the phrase bonus over those."""
    ranks: dict[int, float] = {}
    if conn.dialect.name == "postgresql":
        ranks = _pg_candidates(conn, words, filters, k, any_word)
    else:
        for kind in filters.kinds:
            ranks |= _candidates(conn, words, kind, filters, k, any_word)
    if not ranks:
        return []
    statement = text(f"SELECT {_COLUMNS}, {_find(conn)} > 0 AS phrase FROM kb_search s WHERE s.id IN :ids")
    rows = conn.execute(statement.bindparams(bindparam("ids", expanding=True)), {"ids": list(ranks), "qflat": qflat})
    if any_word:  # some words: the more of them (rank) the better, whatever the kind

        def key(r: Any) -> tuple[Any, ...]:
            return (not r.phrase, -ranks[r.id], r.id)
    else:

        def key(r: Any) -> tuple[Any, ...]:
            return (not r.phrase, r.kind != "article", -ranks[r.id], r.id)

    return [(r, ranks[r.id]) for r in sorted(rows, key=key)]


def _substring(conn: Connection, qflat: str, filters: Filters, limit: int) -> list[Any]:
    where, params = _where(filters)
    statement = text(
        f"SELECT {_COLUMNS}, true AS phrase FROM kb_search s WHERE {_find(conn)} > 0{where} "
        f"ORDER BY s.kind = 'article' DESC, s.id DESC LIMIT :limit"
    ).bindparams(bindparam("kinds", expanding=True), bindparam("statuses", expanding=True))
    return [(r, 0.0) for r in conn.execute(statement, params | {"qflat": qflat, "limit": limit})]


def _rows(conn: Connection, words: list[str], qflat: str, filters: Filters, limit: int, any_word: bool) -> list[Any]:
    k = max(CANDIDATES, limit)
    rows = _ranked(conn, words, qflat, filters, k, any_word) if words else []
    if not rows and not any_word and len(words) > 1:  # no document has every word: those with some
        rows = _ranked(conn, words, qflat, filters, k, True)
    if not rows and not any_word and qflat:
        rows = _substring(conn, qflat, filters, limit)
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
    for r, rank in rows:
        if len(hits) == limit:  # snippets only for what is returned (the rows are up to k per kind)
            break
        if (r.kind, r.ref) not in hits:
            hits[(r.kind, r.ref)] = Hit(
                r.kind,
                int(r.ref),
                r.lang,
                r.title,
                r.status,
                rank,
                bool(r.phrase),
                make(r.body or r.title, marks),
                make(r.title, marks, MAX_TITLE),
            )
    return list(hits.values())
