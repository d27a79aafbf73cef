"""A ticket a person raises at the desk gets the knowledge base's suggestions, as an alert's incident does.
Real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.desk.content import load_desk
from opsagent.desk.intake import TicketRequest, open_ticket
from opsagent.knowledge import repo, suggest
from opsagent.knowledge.model import Meta, Translation
from opsagent.sla.policy import load_policy
from opsagent.store import Store
from tests.desk.helpers import content_root

pytestmark = pytest.mark.peer


def test_a_desk_ticket_gets_suggestions(kb_store: Store, tmp_path: Path) -> None:
    root = content_root(tmp_path / "content")
    article = repo.create(
        kb_store,
        Meta(status="published", category="打印机"),
        [Translation(lang="zh", title="打印机无法打印，任务卡在队列中", body="重启 Print Spooler 服务，清空队列。")],
        "t",
    )
    ticket = TicketRequest.model_validate({"title": "财务部打印机无法打印", "channel": "phone",
                                           "category": "hardware", "requester": {"name": "张三"}})  # fmt: skip
    opened = open_ticket(kb_store, load_policy([root]), load_desk([root]), ticket, "alice")
    assert [s["article_id"] for s in suggest.for_incident(kb_store, opened.id)] == [article]
