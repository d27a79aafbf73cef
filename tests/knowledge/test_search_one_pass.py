"""On PostgreSQL the ranked search reads the index's matches once for articles and tickets together (a query
per kind visited every matching row twice: the GIN index knows words, not kinds), and ranks as before: the
k best of each kind, published articles only, filters applied. A real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

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
