"""Search that works in Chinese, on SQLite and on a real PostgreSQL: ranking cases written by hand (a
query and the article a person wants first), recall against a plain substring scan, escaped snippets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from opsagent.errors import UsageError
from opsagent.knowledge import repo
from opsagent.knowledge.model import Change
from opsagent.knowledge.search import Filters, search
from opsagent.knowledge.segment import flat
from opsagent.store import Store, schema, sqlite_url
from tests.knowledge import corpus
from tests.knowledge.conftest import new_pg_store

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, dict[str, int]]]:
    if request.param == "sqlite":
        store, name = Store(sqlite_url(tmp_path_factory.mktemp("kb") / "store.db")), None
    else:
        server = request.getfixturevalue("postgres_server")
        store, name = new_pg_store(server)
    ids = corpus.load(store)
    yield store, ids
    store.close()
    if name is not None:
        server.drop_database(name)


# (query, the article (or incident:N) a person wants first)
RANKING = [
    ("无法打印", "printer-queue"),
    ("打印机无法打印", "printer-queue"),
    ("打印任务卡住", "printer-queue"),
    ("卡纸", "printer-jam"),
    ("打印机卡纸", "printer-jam"),
    ("共享打印机", "printer-shared"),
    ("VPN 连接失败", "vpn-809"),
    ("VPN连接失败", "vpn-809"),
    ("vpn 809", "vpn-809"),
    ("VPN error 809", "vpn-809"),
    ("ＶＰＮ 内网", "vpn-intranet"),
    ("Outlook 无法发送", "outlook-send"),
    ("邮件发不出去", "outlook-send"),
    ("邮箱满了", "mailbox-full"),
    ("数据库连接数", "db-connections"),
    ("too many connections", "db-connections"),
    ("connection pool", "db-connections"),
    ("无线 掉线", "wifi-drops"),
    ("账号锁定", "account-locked"),
    ("磁盘空间", "disk-full"),
    ("disk full", "disk-full"),
    ("printer offline", "printer-offline"),
    ("Print Spooler", "printer-queue"),
    ("Spooler 服务", "printer-queue"),
    ("扫描到文件夹", "scanner-folder"),
    ("财务部 打印机", "incident:0"),
    ("ERP 数据库 slow", "incident:1"),  # no document has all three words: the one with most of them
    ("missing index", "incident:1"),
]


def _key(ids: dict[str, int], hit_kind: str, ref: int) -> str:
    for key, value in ids.items():
        if value == ref and (key.startswith("incident:") == (hit_kind == "incident")):
            return key
    return f"{hit_kind}:{ref}"


@pytest.mark.parametrize(("query", "wanted"), RANKING)
def test_the_article_a_person_wants_comes_first(
    loaded: tuple[Store, dict[str, int]], query: str, wanted: str | None
) -> None:
    store, ids = loaded
    hits = search(store, query)
    if wanted is None:
        assert hits == [] or all(h.kind == "article" for h in hits[:0])
        return
    assert hits, f"{query!r} found nothing"
    assert _key(ids, hits[0].kind, hits[0].ref) == wanted, [(_key(ids, h.kind, h.ref), h.title) for h in hits]


@pytest.mark.parametrize("word", ["打印", "打印机", "连接", "VPN", "邮件", "卡纸", "磁盘"])
def test_recall_matches_a_substring_scan(loaded: tuple[Store, dict[str, int]], word: str) -> None:
    """Two-character words, the usual Chinese query, are found wherever they are written (unlike trigram)."""
    store, _ = loaded
    filters = Filters(statuses=("published", "draft", "retired"))
    found = {(h.kind, h.ref) for h in search(store, word, filters, limit=200)}
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.kb_search.c.kind, schema.kb_search.c.ref, schema.kb_search.c.flat)).all()
    expected = {(kind, ref) for kind, ref, text in rows if flat(word) in text}
    assert found == expected


def test_drafts_and_retired_articles_are_not_found_by_default(loaded: tuple[Store, dict[str, int]]) -> None:
    store, ids = loaded
    assert ids["draft-printer"] not in {h.ref for h in search(store, "打印机无法打印", Filters(kinds=("article",)))}
    drafts = search(store, "草稿", Filters(statuses=("draft",)))
    assert [h.ref for h in drafts] == [ids["draft-printer"]]


def test_language_and_kind_filters(loaded: tuple[Store, dict[str, int]]) -> None:
    store, ids = loaded
    english = search(store, "809", Filters(lang="en", kinds=("article",)))
    assert [(h.ref, h.lang) for h in english] == [(ids["vpn-809"], "en")]
    assert all(h.kind == "incident" for h in search(store, "打印机", Filters(kinds=("incident",))))


def test_snippets_are_escaped_and_marked(loaded: tuple[Store, dict[str, int]]) -> None:
    store, _ = loaded
    hit = search(store, "Spooler")[0]
    assert "<mark>Spooler</mark>" in hit.snippet.html
    assert "【Spooler】" in hit.snippet.text


def test_hostile_queries_are_plain_text(loaded: tuple[Store, dict[str, int]]) -> None:
    store, _ = loaded
    for query in [
        '"',
        "'; DROP TABLE kb_search; --",
        "NEAR(a b)",
        "a OR",
        "*",
        "!!! & | :*",
        "打印\x00机",
        '打印机"OR"1',
    ]:
        search(store, query)  # no syntax error from FTS5 or tsquery
    for empty in ("   ", "\x00"):
        with pytest.raises(UsageError):
            search(store, empty)


def test_an_edit_is_found_at_once(kb_store: Store) -> None:
    article_id = corpus.load_one(kb_store)
    assert search(kb_store, "打印机") and not search(kb_store, "交换机")
    repo.edit(kb_store, article_id, Change(title="交换机端口down", lang="zh"), "tester")
    assert [h.ref for h in search(kb_store, "交换机")] == [article_id]
    repo.set_status(kb_store, article_id, "retired", "tester")
    assert search(kb_store, "交换机") == []


def test_escaped_markup_in_articles(kb_store: Store) -> None:
    from opsagent.knowledge.model import Meta, Translation

    repo.create(kb_store, Meta(status="published"), [Translation(lang="en", title="<b>bold</b> printer",
                body="<script>alert('x')</script> printer jam")], "t")  # fmt: skip
    hit = search(kb_store, "printer")[0]
    assert "<script>" not in hit.snippet.html and "&lt;script&gt;" in hit.snippet.html
    assert hit.title_marked.html == "&lt;b&gt;bold&lt;/b&gt; <mark>printer</mark>"
