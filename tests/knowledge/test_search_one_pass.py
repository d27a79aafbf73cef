"""On PostgreSQL the ranked search reads the index's matches once for articles and tickets together (a query
per kind visited every matching row twice: the GIN index knows words, not kinds), and ranks as before: the
k best of each kind, published articles only, filters applied. A real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from opsagent.knowledge import index
from opsagent.knowledge import search as search_module
from opsagent.knowledge.search import Filters, search
from opsagent.store import Store
from tests.knowledge.corpus import load, resolved_incident

pytestmark = pytest.mark.peer


@pytest.fixture
def pg_store(pg_empty_url: str) -> Iterator[Store]:
    store = Store(pg_empty_url)
    yield store
    store.close()


def _ranked_queries(store: Store, fn: Any) -> tuple[Any, int]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "ts_rank" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        return fn(), len(seen)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_one_ranked_pass_for_both_kinds(pg_store: Store) -> None:
    ids = load(pg_store)
    ticket = resolved_incident(pg_store, "三楼打印机无法打印", "打印机显示脱机", "网线松动", "重新插好网线")
    hits, passes = _ranked_queries(pg_store, lambda: search(pg_store, "打印机", Filters(), 20))
    assert passes == 1
    kinds = {(h.kind, h.ref) for h in hits}
    assert ("incident", ticket) in kinds and any(k == "article" for k, _ in kinds)
    assert all(h.status == "published" for h in hits if h.kind == "article")
    articles_only, passes = _ranked_queries(
        pg_store, lambda: search(pg_store, "打印机", Filters(kinds=("article",), lang="zh"), 20)
    )
    assert passes == 1 and articles_only and all(h.kind == "article" and h.lang == "zh" for h in articles_only)
    assert set(ids.values()) >= {h.ref for h in articles_only}


def _scanned(node: dict[str, Any]) -> int:
    """Rows the plan read from kb_search (every scan node of the table, after its filters)."""
    own = int(node["Actual Rows"]) * int(node["Actual Loops"]) if node.get("Relation Name") == "kb_search" else 0
    return own + sum(_scanned(child) for child in node.get("Plans", []))


def test_a_broad_word_ranks_a_bounded_set_title_matches_first(pg_store: Store) -> None:
    """打印 in every document: ranking every match read and scored them all (a fifth of a large table on the
    benchmark); now each kind ranks at most PG_CANDIDATES title matches and as many others, and the title
    matches (weight A) still come first."""
    n = 6 * search_module.PG_CANDIDATES
    docs = []
    for i in range(1, n + 1):
        kind, title = ("article", "incident")[i % 2], "打印机无法打印" if i % 3 == 0 else f"第{i}号工单"
        docs.append(index.document(kind, i, "zh", "published", "internal", title, "财务部的电脑无法打印，已处理"))
    with pg_store.transaction() as conn:
        index._upsert(conn, docs)
        conn.execute(text("ANALYZE kb_search"))
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "ts_rank" in statement:
            seen.append((statement, params))

    event.listen(pg_store.engine, "before_cursor_execute", record)
    try:
        hits = search(pg_store, "打印", Filters(), 20, sync=False)
    finally:
        event.remove(pg_store.engine, "before_cursor_execute", record)
    assert len(hits) == 20 and all("打印" in h.title for h in hits)
    assert [h.kind for h in hits] == ["article"] * 20  # published knowledge before ticket history
    statement, params = seen[0]
    raw = pg_store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        plan = cursor.fetchone()[0][0]["Plan"]
    finally:
        raw.close()
    assert _scanned(plan) <= 4 * search_module.PG_CANDIDATES < n
