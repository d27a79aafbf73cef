"""What the console's pages read, on SQLite and a real PostgreSQL (bench/console_data.py fills the store
as the console bench does, smaller): the queue pages by id without gaps or repeats, each page one index
walk (SQLite's plan: no sort of every matching row); one asset is read without the inventory; the
inventory page is bounded; the queue's select options are kept a while."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, func, select

from bench.console_data import Sample, fill
from opsagent.store import Store, inventory_repo, schema
from opsagent.web import queries
from opsagent.web.cache import Kept
from opsagent.web.queries import QUEUE_LIMIT, QueueFilter, queue, queue_query


@pytest.fixture
def filled(store: Store) -> Sample:
    return fill(store, tickets=400, assets=60, runs=10, requesters=20, active_share=0.3)


def _all_pages(store: Store, f: QueueFilter) -> list[list[int]]:
    pages: list[list[int]] = []
    before = 0
    while True:
        page = queue(store, QueueFilter(**(f.as_dict() | {"before": before})))
        pages.append([r["id"] for r in page.rows])
        if not page.older:
            return pages
        before = page.older


def test_the_queue_pages_by_id_newest_first_without_gaps_or_repeats(store: Store, filled: Sample) -> None:
    t = schema.incidents.c
    for f in (QueueFilter(status="all"), QueueFilter(), QueueFilter(status="closed", source="desk")):
        pages = _all_pages(store, f)
        ids = [i for page in pages for i in page]
        where = [c for c in (t.status == f.status if f.status not in ("all", "active") else None,
                             t.source == f.source if f.source else None) if c is not None]  # fmt: skip
        if f.status == "active":
            where.append(t.status.in_(("open", "acknowledged")))
        with store.engine.connect() as conn:
            expected = list(conn.execute(select(t.id).where(*where).order_by(t.id.desc())).scalars())
        assert ids == expected
        assert len(pages) > 1 or f.status != "all"
        assert all(len(page) == QUEUE_LIMIT for page in pages[:-1])


def test_a_search_looks_through_a_window_of_ids_a_page_and_finds_every_match(
    store: Store, filled: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "SEARCH_WINDOW", 100)  # 400 tickets: four windows
    t = schema.incidents.c
    for word in ("打印机", "no-such-words"):
        with store.engine.connect() as conn:
            like = t.title.contains(word) | t.description.contains(word)
            expected = list(conn.execute(select(t.id).where(like).order_by(t.id.desc())).scalars())
        pages = _all_pages(store, QueueFilter(status="all", q=word))
        assert [i for page in pages for i in page] == expected
        assert len(pages) >= 4  # each page looked through 100 ids at most, the last one reached the first ticket
    first = queue(store, QueueFilter(status="all", q="no-such-words"))
    assert first.rows == [] and first.searched_from == 301 and first.older == 301


def test_a_page_number_from_the_url_is_bounded() -> None:
    assert QueueFilter.of({"before": "120"}).before == 120
    for hostile in ("-1", "1e9", "99999999999", "x", ""):
        assert QueueFilter.of({"before": hostile}).before == 0


def _plan(store: Store, wanted: dict[str, str]) -> str:
    sql = str(queue_query(QueueFilter.of(wanted), QUEUE_LIMIT + 1, desk=True).compile(store.engine,
              compile_kwargs={"literal_binds": True}))  # fmt: skip
    with store.engine.connect() as conn:
        return " | ".join(str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_filtered_page_is_one_index_walk_not_a_sort_of_every_match(store: Store, filled: Sample) -> None:
    closed = _plan(store, {"status": "closed", "source": "desk"})
    assert "ix_incidents_status_id" in closed and "TEMP B-TREE" not in closed, closed  # was: sort every closed one
    asset = _plan(store, {"status": "all", "asset": filled.assets[0]})
    assert "ix_incidents_asset_id" in asset and "TEMP B-TREE" not in asset, asset  # was: a scan of every ticket
    mine = _plan(store, {"assignee": "lisi", "priority": "P2"})  # someone's active ones
    assert "ix_incidents_assignee_status_id (assignee=? AND status=?)" in mine, mine  # was: all they ever had


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_page_alone_is_joined_to_its_requesters_and_clocks(store: Store, filled: Sample) -> None:
    """Joined before the LIMIT, every active ticket's SLA clocks were read to show 50 (31 ms a page)."""
    for wanted in ({}, {"assignee": "lisi", "priority": "P2"}, {"status": "all", "q": "打印机"}):
        plan = _plan(store, wanted)
        first, *_ = plan.split(" | ")
        assert first == "SEARCH incidents USING INTEGER PRIMARY KEY (rowid=?)" and "LIST SUBQUERY" in plan, plan
    page = queue(store, QueueFilter(), desk=True)
    assert [r["id"] for r in page.rows] == sorted((r["id"] for r in page.rows), reverse=True)
    assert all("requester" in r and "sla" in r for r in page.rows)


def test_one_asset_is_read_alone_and_the_inventory_list_is_bounded(store: Store, filled: Sample) -> None:
    name = filled.assets[0]
    found = inventory_repo.get_asset(store, name)
    assert found is not None and found.name == name and found.tags["site"]
    assert inventory_repo.get_asset(store, "no-such-asset") is None
    listed, more = inventory_repo.find_assets(store, "", limit=25)
    assert len(listed) == 25 and more and [a.name for a in listed] == sorted(a.name for a in listed)
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(schema.assets)).scalar()
    assert inventory_repo.find_assets(store, "", limit=500) == (inventory_repo.find_assets(store)[0], False)
    assert len(inventory_repo.find_assets(store)[0]) == total
    hits, more = inventory_repo.find_assets(store, name.upper())
    assert [a.name for a in hits] == [name] and not more
    assert inventory_repo.find_assets(store, "10.0.0.")[0]  # by address too
    assert inventory_repo.find_assets(store, "%_")[0] == []  # LIKE's wildcards are text


def test_the_inventory_pages_by_name_without_gaps_or_repeats(store: Store, filled: Sample) -> None:
    """/api/v1/assets's pages: each the names after the last one of the previous page."""
    pages: list[list[str]] = []
    after: str | None = None
    more = True
    while more:
        listed, more = inventory_repo.find_assets(store, "", limit=7, after=after)
        pages.append([a.name for a in listed])
        after = listed[-1].name
    assert all(len(p) == 7 for p in pages[:-1]) and 0 < len(pages[-1]) <= 7
    with store.engine.connect() as conn:
        names = sorted(conn.execute(select(schema.assets.c.name)).scalars())
    assert len(names) > 7 * 3 and [n for p in pages for n in p] == names
    assert inventory_repo.find_assets(store, "", limit=7, after=pages[-1][-1]) == ([], False)


def test_kept_values_are_computed_once_while_fresh() -> None:
    calls: list[int] = []

    def compute() -> Any:
        calls.append(1)
        return len(calls)

    kept: Kept[int] = Kept(60)
    assert [kept.get(compute) for _ in range(3)] == [1, 1, 1]
    stale: Kept[int] = Kept(0)
    assert [stale.get(compute) for _ in range(2)] == [2, 3]


def test_the_json_incident_list_hides_archived_tickets_and_says_when_they_were(store: Store, filled: Sample) -> None:
    from opsagent.incidents import repo

    t, s = schema.incidents.c, schema.incident_service.c
    with store.engine.connect() as conn:
        archived = set(conn.execute(select(s.incident_id).where(s.archived_at.is_not(None))).scalars())
        everything = list(conn.execute(select(t.id).order_by(t.id.desc())).scalars())
    assert archived  # closed ones are archived at closure (the shipped policy)
    shown = repo.list_incidents(store, None, None, 1000, archived=False)
    assert [r["id"] for r in shown] == [i for i in everything if i not in archived]
    assert all(r["archived_at"] is None for r in shown)
    only = repo.list_incidents(store, None, None, 1000, archived=True)
    assert {r["id"] for r in only} == archived and all(r["archived_at"] is not None for r in only)
    both = repo.list_incidents(store, ("closed",), None, 1000, archived=None)
    assert {r["id"] for r in both} == archived
    active = repo.list_incidents(store, ("open", "acknowledged"), None, 10)
    assert len(active) == 10 and all(r["status"] in ("open", "acknowledged") for r in active)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_filled_store_keeps_its_column_statistics(store: Store, filled: Sample) -> None:
    """The console bench's PostgreSQL had no column statistics (the fill's ANALYZE ran in a transaction
    that was rolled back): the planner guessed 0.5 % of tickets per status, and for a page of closed desk
    tickets sorted every closed ticket (30 ms) instead of walking the ids backwards (1 ms)."""
    with store.engine.connect() as conn:
        stats = conn.exec_driver_sql("SELECT attname FROM pg_stats WHERE tablename = 'incidents'").scalars().all()
    assert {"status", "source", "type", "priority"} <= set(stats)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_newest_active_incidents_are_one_walk_of_their_own_index_without_parallel_workers(
    store: Store, filled: Sample
) -> None:
    """The API's list and the queue's default page (active, newest first, a page) had no index in id
    order: PostgreSQL walked every incident backwards filtered by status with two parallel workers started
    per statement (3.5 ms; twenty sessions at once waited 300–500 ms a page), or sorted every active one."""
    from opsagent.incidents import repo

    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, *_a: Any) -> None:
        statements.append((sql, params))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        active = repo.list_incidents(store, ("acknowledged", "open"), None, 50)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert active and all(r["status"] in ("open", "acknowledged") for r in active)
    with store.engine.raw_connection() as raw:
        cursor = raw.cursor()
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] == "0"
        cursor.execute("SET enable_seqscan = off")  # a small table: judge the plan as at 100,000 tickets
        cursor.execute("EXPLAIN " + statements[-1][0], statements[-1][1])
        plan = " | ".join(r[0] for r in cursor.fetchall())
    assert "Index Scan Backward using ix_incidents_active_id" in plan and "Sort" not in plan, plan
    assert "Gather" not in plan, plan
