"""Articles in a real store (SQLite and PostgreSQL): translations under one id, every edit a version with
author and time, states, links, views and votes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from opsagent.knowledge import repo
from opsagent.knowledge.model import Change, KnowledgeError, Meta, Translation
from opsagent.store import Store, schema

pytestmark = pytest.mark.peer


def test_translations_versions_and_states(kb_store: Store) -> None:
    meta = Meta(
        category="打印机", tags=["printer"], alerts=["PrinterDown"], asset_groups=["office"], visibility="requesters"
    )
    article_id = repo.create(kb_store, meta, [Translation(lang="zh", title="打印机脱机", body="重新连接")], "alice")
    assert repo.edit(kb_store, article_id, Change(lang="en", title="Printer offline", body="Reconnect it"), "bob") == 2
    assert repo.edit(kb_store, article_id, Change(lang="zh", body="重新连接网线"), "carol") == 3
    assert repo.edit(kb_store, article_id, Change(lang="zh", body="重新连接网线"), "carol") is None  # no change
    assert repo.edit(kb_store, article_id, Change(runbooks=["printer-restart"], note="link"), "dave") == 4
    assert repo.set_status(kb_store, article_id, "published", "erin") == 5
    assert repo.set_status(kb_store, article_id, "published", "erin") is None
    assert repo.set_status(kb_store, article_id, "retired", "erin") == 6

    found = repo.get(kb_store, article_id)
    assert found is not None
    assert found["translations"] == {
        "en": {"title": "Printer offline", "body": "Reconnect it"},
        "zh": {"title": "打印机脱机", "body": "重新连接网线"},
    }
    assert (found["status"], found["visibility"], found["version"]) == ("retired", "requesters", 6)
    assert found["alerts"] == ["PrinterDown"] and found["runbooks"] == ["printer-restart"]
    history = repo.versions(kb_store, article_id)
    assert [(v["version"], v["lang"], v["author"]) for v in history] == [
        (1, "zh", "alice"), (2, "en", "bob"), (2, "zh", "bob"), (3, "en", "carol"), (3, "zh", "carol"),
        (4, "en", "dave"), (4, "zh", "dave"), (5, "en", "erin"), (5, "zh", "erin"), (6, "en", "erin"),
        (6, "zh", "erin"),
    ]  # fmt: skip
    first = history[0]
    assert first["body"] == "重新连接" and first["meta"]["status"] == "draft" and first["at"].tzinfo is not None
    assert history[6]["meta"]["runbooks"] == ["printer-restart"] and history[6]["note"] == "link"


def test_one_vote_per_user_and_a_second_vote_replaces_the_first(kb_store: Store) -> None:
    article = repo.create(kb_store, Meta(), [Translation(lang="zh", title="VPN 连不上")], "t")
    assert repo.vote(kb_store, article, True, "alice")["helpful"] == 1
    assert repo.vote(kb_store, article, True, "alice")["helpful"] == 1  # the same vote again counts once
    assert repo.vote(kb_store, article, False, "alice") == {"helpful": 0, "not_helpful": 1, "views": 0}
    assert repo.vote(kb_store, article, True, "bob") == {"helpful": 1, "not_helpful": 1, "views": 0}
    assert (repo.vote_of(kb_store, article, "alice"), repo.vote_of(kb_store, article, "bob")) == (False, True)
    assert repo.vote_of(kb_store, article, "carol") is None
    # one user voting from several places at once is still one vote
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: repo.vote(kb_store, article, True, "carol"), range(12)))
    found = repo.get(kb_store, article)
    assert found is not None and (found["helpful"], found["not_helpful"]) == (2, 1)
    with kb_store.engine.connect() as conn:
        voters = conn.execute(select(schema.kb_votes.c.voter).order_by(schema.kb_votes.c.voter)).scalars().all()
    assert voters == ["alice", "bob", "carol"]


def test_keys_views_votes_and_refusals(kb_store: Store) -> None:
    first = repo.create(kb_store, Meta(), [Translation(lang="en", title="A")], "t")
    assert repo.get(kb_store, first)["key"] == f"kb-{first}"  # type: ignore[index]
    named = repo.create(kb_store, Meta(key="vpn-809"), [Translation(lang="en", title="B")], "t")
    assert repo.by_key(kb_store, "vpn-809") == named
    with pytest.raises(KnowledgeError, match="exists"):
        repo.create(kb_store, Meta(key="vpn-809"), [Translation(lang="en", title="C")], "t")
    with pytest.raises(KnowledgeError, match="one translation per language"):
        repo.create(kb_store, Meta(), [Translation(lang="en", title="C"), Translation(lang="en", title="D")], "t")
    repo.count_view(kb_store, named)
    repo.count_view(kb_store, named)
    repo.vote(kb_store, named, True, "u1")
    assert repo.vote(kb_store, named, False, "u2") == {"helpful": 1, "not_helpful": 1, "views": 2}
    with pytest.raises(KnowledgeError, match="no article"):
        repo.vote(kb_store, 9999, True, "u")
    with pytest.raises(KnowledgeError, match="no article"):
        repo.edit(kb_store, 9999, Change(title="x"), "u")
    two = repo.create(kb_store, Meta(), [Translation(lang="en", title="E"), Translation(lang="zh", title="F")], "t")
    with pytest.raises(KnowledgeError, match="which translation"):
        repo.edit(kb_store, two, Change(title="G"), "u")
    with pytest.raises(KnowledgeError, match="needs a title"):
        repo.edit(kb_store, first, Change(lang="zh", body="only a body"), "u")
