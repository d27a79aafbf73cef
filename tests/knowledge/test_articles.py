"""Articles in a real store (SQLite and PostgreSQL): translations under one id, every edit a version with
author and time, states, links, views and votes."""

from __future__ import annotations

import pytest

from opsagent.knowledge import repo
from opsagent.knowledge.model import Change, KnowledgeError, Meta, Translation
from opsagent.store import Store

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
