"""The email channel's intake and outbox on a real SQLite store (migrations, the shipped content): the
attachment size cap, threading by the subject tag alone, one transaction for a ticket and its ledger row,
and requester-facing templates a site overrides (sandboxed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from opsagent.alerts.notifyconfig import EmailConfig
from opsagent.config import shipped_content_root
from opsagent.desk.content import load_desk
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailintake import MailDesk, Where
from opsagent.desk.mailout import Outbox, TemplateError, environment
from opsagent.sla.policy import load_policy
from opsagent.store import schema
from opsagent.store.engine import Store
from opsagent.store.urls import sqlite_url
from tests.desk.helpers import content_root

SUPPORT = "support@example.com"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[MailDesk]:
    content = content_root(tmp_path / "content")
    store = Store(sqlite_url(tmp_path / "desk.db"))
    cfg = MailConfig(host="imap.invalid", user="u", password="env:UNUSED", address=SUPPORT, max_attachment_bytes=10)
    try:
        yield MailDesk(store, load_policy([content]), load_desk([content]), cfg, tmp_path / "home")
    finally:
        store.close()


def _mail(n: int, subject: str, parts: str = "", body: str = "打印机坏了") -> bytes:
    head = f"From: 王芳 <wf@acme.example>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <m{n}@acme.example>\r\n"
    if not parts:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
    return (head + f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\n{body}\r\n{parts}--b--\r\n').encode()


def _file(name: str, data: str) -> str:
    return (f"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename={name}\r\n"
            f"\r\n{data}\r\n")  # fmt: skip


def test_attachments_over_the_cap_are_listed_not_stored(desk: MailDesk) -> None:
    outcome = desk.process(
        Where("INBOX", 1, 1), _mail(1, "s", _file("small.txt", "12345") + _file("big.bin", "x" * 40))
    )
    assert outcome.outcome == "ticket"
    with desk.store.engine.connect() as conn:
        rows = conn.execute(select(schema.mail_attachments).order_by(schema.mail_attachments.c.id)).all()
    assert [(r.filename, r.size, r.path is not None) for r in rows] == [("small.txt", 5, True), ("big.bin", 40, False)]
    assert Path(rows[0].path).read_bytes() == b"12345"


def test_the_subject_tag_alone_threads_a_reply(desk: MailDesk) -> None:
    first = desk.process(Where("INBOX", 1, 1), _mail(1, "打印机"))
    assert first.incident_id is not None
    reply = desk.process(Where("INBOX", 1, 2), _mail(2, f"回复：[#{first.incident_id}] 打印机", body="补充：型号 M404"))
    assert (reply.outcome, reply.incident_id) == ("note", first.incident_id)
    unknown = desk.process(Where("INBOX", 1, 3), _mail(3, "[#99999] 打印机"))
    assert unknown.outcome == "ticket" and unknown.incident_id != first.incident_id
    again = desk.process(Where("INBOX", 2, 1), _mail(1, "打印机"))  # a new UIDVALIDITY: the same mail again
    assert (again.outcome, again.reason) == ("skipped", "duplicate")


def test_a_failure_after_the_ticket_rolls_back_ticket_and_ledger(desk: MailDesk, monkeypatch: Any) -> None:
    def broken(*_args: Any, **_kw: Any) -> int:
        raise RuntimeError("killed here")

    monkeypatch.setattr(MailDesk, "_record", broken)
    with pytest.raises(RuntimeError):
        desk.process(Where("INBOX", 1, 1), _mail(1, "s"))
    with desk.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.incidents)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(schema.requesters)).scalar() == 0
    monkeypatch.undo()
    assert desk.process(Where("INBOX", 1, 1), _mail(1, "s")).outcome == "ticket"


def _outbox(desk: MailDesk, roots: list[Path]) -> Outbox:
    smtp = EmailConfig.model_validate({"to": ["x@example.test"], "from": SUPPORT, "smarthost": "127.0.0.1:1"})
    return Outbox(desk.store, desk.policy, desk.cfg, smtp, environment(roots), ZoneInfo("Asia/Shanghai"))


def test_a_site_template_overrides_the_shipped_one_in_the_sandbox(desk: MailDesk, tmp_path: Path) -> None:
    desk.process(Where("INBOX", 1, 1), _mail(1, "打印机"))
    with desk.store.engine.connect() as conn:
        row = conn.execute(select(schema.mail_outbox)).one()
    site = tmp_path / "site"
    (site / "desk" / "templates").mkdir(parents=True)
    (site / "desk" / "templates" / "ack.zh.txt.j2").write_text(
        "收到 #{{ ticket.id }}\n\n{{ requester.name }} {{ tag }}"
    )
    msg = _outbox(desk, [shipped_content_root(), tmp_path / "content", site]).compose(row)
    assert msg is not None and msg["Subject"] == f"[#{row.incident_id}] 收到 #{row.incident_id}"
    assert msg.get_content().strip() == f"王芳 [#{row.incident_id}]"
    shipped = _outbox(desk, [shipped_content_root(), tmp_path / "content"]).compose(row)
    assert shipped is not None and "我们将在" in shipped.get_content()
    (site / "desk" / "templates" / "ack.zh.txt.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match=r"desk/templates/ack.zh.txt.j2: .*unsafe"):
        _outbox(desk, [shipped_content_root(), tmp_path / "content", site]).compose(row)


def test_check_reports_a_broken_site_template_with_file_and_line(tmp_path: Path) -> None:
    from tests.e2e.agent import opsagent

    templates = tmp_path / "site" / "desk" / "templates"
    templates.mkdir(parents=True)
    (templates / "ack.zh.txt.j2").write_text("主题\n\n{% if response_due %}\n正文\n", encoding="utf-8")
    (templates / "thanks.zh.txt.j2").write_text("x\n")
    (tmp_path / "opsagent.yaml").write_text("seed_inventory: []\n")
    done = opsagent("check", str(tmp_path / "site" / "desk"), home=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert any(line.startswith(f"{templates / 'ack.zh.txt.j2'}:3: Unexpected end of template") for line in lines)
    assert f"{templates / 'thanks.zh.txt.j2'}:1: templates are KIND.LANG.txt.j2" in done.stderr
    shipped = opsagent("check", str(shipped_content_root() / "desk"), home=tmp_path)
    assert shipped.returncode == 0, shipped.stderr


def test_a_confirmation_recorded_before_a_kill_is_finished_by_the_next_run(desk: MailDesk, monkeypatch: Any) -> None:
    from opsagent.incidents import repo

    first = desk.process(Where("INBOX", 1, 1), _mail(1, "打印机"))
    assert first.incident_id is not None
    repo.act(desk.store, first.incident_id, "resolve", "engineer")
    monkeypatch.setattr(MailDesk, "finish", lambda *_a, **_k: None)  # the kill: after the ledger, before the close
    done = desk.process(Where("INBOX", 1, 2), _mail(2, f"Re: [#{first.incident_id}]", body="确认 4\n谢谢"))
    assert done.outcome == "confirm"
    assert repo.get(desk.store, first.incident_id)["status"] == "resolved"  # type: ignore[index]
    monkeypatch.undo()
    assert desk.finish_pending() == 1
    assert repo.get(desk.store, first.incident_id)["status"] == "closed"  # type: ignore[index]
    with desk.store.engine.connect() as conn:
        assert conn.execute(select(schema.incident_service.c.satisfaction)).scalar() == 4
    assert desk.finish_pending() == 0
    other = desk.process(Where("INBOX", 1, 3), _mail(3, f"Re: [#{first.incident_id}]", body="确认 1"))
    assert other.outcome == "note"  # closed already: no second follow-up


def test_the_mails_of_one_fetch_commit_once(desk: MailDesk) -> None:
    commits: list[int] = []
    event.listen(desk.store.engine, "commit", lambda _conn: commits.append(1))
    batch = [(Where("INBOX", 1, n), _mail(n, f"打印机 {n}")) for n in range(1, 26)]  # one sender: 20 per hour
    done = desk.process_many(batch)
    assert [o.outcome for _, o in done] == ["ticket"] * 20 + ["skipped"] * 5  # the rate limit counts the batch
    assert len(commits) == 1  # one transaction for the batch (was one per mail, and one more per ticket)
    with desk.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.mail_outbox)).scalar() == 20
    again = desk.process_many(batch)
    assert again == []  # every mail already in the ledger: left out


def test_a_failure_in_a_batch_rolls_back_every_mail_of_it(desk: MailDesk, monkeypatch: Any) -> None:
    record = MailDesk._record
    calls: list[int] = []

    def third_breaks(self: MailDesk, *args: Any, **kw: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed here")
        return record(self, *args, **kw)

    monkeypatch.setattr(MailDesk, "_record", third_breaks)
    with pytest.raises(RuntimeError):
        desk.process_many([(Where("INBOX", 1, n), _mail(n, f"s{n}")) for n in (1, 2, 3)])
    with desk.store.engine.connect() as conn:
        for table in (schema.incidents, schema.mail_messages, schema.requesters, schema.mail_outbox):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0
    monkeypatch.undo()
    done = desk.process_many([(Where("INBOX", 1, n), _mail(n, f"s{n}")) for n in (1, 2, 3)])
    assert [o.outcome for _, o in done] == ["ticket"] * 3


def test_later_mails_of_a_batch_see_the_earlier_ones(desk: MailDesk) -> None:
    reply = _mail(3, "Re: 打印机", body="补充：型号 M404").replace(
        b"Message-ID: <m3@acme.example>\r\n", b"Message-ID: <m3@acme.example>\r\nIn-Reply-To: <m1@acme.example>\r\n"
    )
    done = desk.process_many([(Where("INBOX", 1, 1), _mail(1, "打印机")), (Where("INBOX", 1, 2), _mail(1, "打印机")),
                              (Where("INBOX", 1, 3), reply)])  # fmt: skip
    first, copy, note = (o for _, o in done)
    assert first.outcome == "ticket" and (copy.outcome, copy.reason) == ("skipped", "duplicate")
    assert (note.outcome, note.incident_id) == ("note", first.incident_id)


def test_a_confirmation_is_applied_before_the_next_mail_of_its_batch(desk: MailDesk) -> None:
    from opsagent.incidents import repo

    first = desk.process(Where("INBOX", 1, 1), _mail(1, "打印机"))
    assert first.incident_id is not None
    repo.act(desk.store, first.incident_id, "resolve", "engineer")
    tag = f"Re: [#{first.incident_id}]"
    done = desk.process_many([(Where("INBOX", 1, 2), _mail(2, tag, body="确认 4")),
                              (Where("INBOX", 1, 3), _mail(3, tag, body="确认 1"))])  # fmt: skip
    assert [o.outcome for _, o in done] == ["confirm", "note"]  # the second one finds the ticket closed
    assert repo.get(desk.store, first.incident_id)["status"] == "closed"  # type: ignore[index]
    with desk.store.engine.connect() as conn:
        assert conn.execute(select(schema.incident_service.c.satisfaction)).scalar() == 4
