"""A ticket a person raises at the desk gets the knowledge base's suggestions, as an alert's incident does.
Real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from opsagent.desk.content import load_desk
from opsagent.desk.intake import TicketRequest, open_ticket
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailintake import MailDesk, Where
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


def _commits(store: Store) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: seen.append(1))
    return seen


def test_an_empty_knowledge_base_costs_a_ticket_no_second_commit(kb_store: Store, tmp_path: Path) -> None:
    root = content_root(tmp_path / "content")
    ticket = TicketRequest.model_validate({"title": "打印机无法打印", "channel": "phone", "category": "hardware",
                                           "requester": {"name": "张三"}})  # fmt: skip
    commits = _commits(kb_store)
    open_ticket(kb_store, load_policy([root]), load_desk([root]), ticket, "alice")
    assert len(commits) == 1  # the ticket's own transaction; no write transaction for nothing to suggest


def test_tickets_opened_by_one_mail_batch_get_suggestions(kb_store: Store, tmp_path: Path) -> None:
    root = content_root(tmp_path / "content")
    article = repo.create(
        kb_store,
        Meta(status="published", category="打印机"),
        [Translation(lang="zh", title="打印机无法打印，任务卡在队列中", body="重启 Print Spooler 服务，清空队列。")],
        "t",
    )
    cfg = MailConfig(host="imap.invalid", user="u", password="env:UNUSED", address="support@example.com")
    desk = MailDesk(kb_store, load_policy([root]), load_desk([root]), cfg, tmp_path / "home")
    mails = [(Where("INBOX", 1, n), (f"From: u{n}@acme.example\r\nSubject: 财务部打印机无法打印 {n}\r\n"
                                     f"Message-ID: <kb{n}@acme.example>\r\nContent-Type: text/plain; charset=utf-8"
                                     "\r\n\r\n打印机无法打印").encode()) for n in (1, 2)]  # fmt: skip
    done = desk.process_many(mails)
    assert [o.outcome for _, o in done] == ["ticket", "ticket"]
    for _, outcome in done:
        assert outcome.incident_id is not None
        assert [s["article_id"] for s in suggest.for_incident(kb_store, outcome.incident_id)] == [article]
