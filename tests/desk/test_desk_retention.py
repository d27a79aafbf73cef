"""Retention (desk.retention_months) on SQLite and a real PostgreSQL: tickets closed more than N months
ago lose attachments and their requesters' personal data, the rest stays, the statistics do not move,
and every run is audited; ``opsagent desk purge --dry-run`` counts without changing anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from opsagent.desk.content import load_desk
from opsagent.desk.intake import RequesterSpec, TicketRequest, open_ticket
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailintake import MailDesk, Where
from opsagent.desk.retention import PURGED_NAME, months_before, purge_expired
from opsagent.incidents import repo
from opsagent.knowledge.harvest import from_incident
from opsagent.knowledge.index import sync_incidents
from opsagent.reports.period import load_stats
from opsagent.sla import service
from opsagent.sla.policy import load_policy
from opsagent.store import schema
from opsagent.store.engine import Store, now
from opsagent.store.urls import sqlite_url
from tests.desk.helpers import REPO, content_root

SUPPORT = "support@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "desk.db")
    return str(request.getfixturevalue("pg_empty_url"))


@pytest.fixture
def desk(store_url: str, tmp_path: Path) -> Iterator[MailDesk]:
    content = content_root(tmp_path / "content")
    store = Store(store_url)
    cfg = MailConfig(host="imap.invalid", user="u", password="env:UNUSED", address=SUPPORT)
    try:
        yield MailDesk(store, load_policy([content]), load_desk([content]), cfg, tmp_path / "home")
    finally:
        store.close()


def _mail(n: int, sender: str, subject: str, body: str, attachment: bytes = b"") -> bytes:
    head = f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <r{n}@acme.example>\r\n"
    if not attachment:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
    return (
        (
            head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; '
            f"charset=utf-8\r\n\r\n{body}\r\n--b\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=log.txt\r\n\r\n"
        ).encode()
        + attachment
        + b"\r\n--b--\r\n"
    )


def _close(desk: MailDesk, incident_id: int) -> None:
    repo.act(desk.store, incident_id, "ack", "engineer")
    repo.act(desk.store, incident_id, "resolve", "engineer")
    service.act(desk.store, desk.policy, incident_id, "followup", "engineer", "满意，联系 13900001111", satisfaction=4)


def _texts(store: Store, incident_id: int) -> str:
    with store.engine.connect() as conn:
        parts = [conn.execute(select(schema.incidents.c.title, schema.incidents.c.description)
                              .where(schema.incidents.c.id == incident_id)).one()]  # fmt: skip
        parts += conn.execute(select(schema.incident_events.c.message)
                              .where(schema.incident_events.c.incident_id == incident_id)).all()  # fmt: skip
        parts += conn.execute(select(schema.incident_service.c.symptom, schema.incident_service.c.feedback)
                              .where(schema.incident_service.c.incident_id == incident_id)).all()  # fmt: skip
        parts += conn.execute(select(schema.ticket_details.c.request, schema.ticket_details.c.promises)
                              .where(schema.ticket_details.c.incident_id == incident_id)).all()  # fmt: skip
    return json.dumps([list(p) for p in parts], ensure_ascii=False, default=str)


def _indexed(store: Store) -> str:
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.kb_search.c.title, schema.kb_search.c.body, schema.kb_search.c.flat)).all()
    return json.dumps([list(r) for r in rows], ensure_ascii=False)


def test_months_before_counts_calendar_months() -> None:
    assert months_before(datetime(2026, 3, 31, 8), 1) == datetime(2026, 2, 28, 8)
    assert months_before(datetime(2026, 1, 15), 13) == datetime(2024, 12, 15)
    assert months_before(datetime(2028, 3, 29), 1) == datetime(2028, 2, 29)


def test_purge_removes_personal_data_of_old_tickets_and_keeps_the_statistics(desk: MailDesk) -> None:
    store = desk.store
    old = desk.process(
        Where("INBOX", 1, 1),
        _mail(
            1,
            "王芳 <wf@acme.example>",
            "打印机坏了 13812341234",
            "请回电 13812341234 或 wf@acme.example",
            b"secret log",
        ),
    )
    assert old.incident_id is not None
    note = desk.process(Where("INBOX", 1, 2), _mail(2, "wf@acme.example", f"[#{old.incident_id}] 补充",
                                                    "新号码 13712345678，地址见签名"))  # fmt: skip
    assert note.outcome == "note"
    _close(desk, old.incident_id)
    # a second person: one ticket closed, one still open — their record stays
    both = TicketRequest(title="VPN 连不上，打 13600001111", channel="phone", category="network",
                         requester=RequesterSpec(name="李四", phone="13600001111", email="li@corp.example"),
                         request="尽快恢复，邮件 li@corp.example", promises="2026-12-07 10:00 前回电")  # fmt: skip
    closed = open_ticket(store, desk.policy, desk.desk, both, "desk-user")
    _close(desk, closed.id)
    still_open = open_ticket(store, desk.policy, desk.desk, both.model_copy(update={"title": "又断了"}), "desk-user")
    with store.engine.connect() as conn:
        files = [Path(p) for p in conn.execute(select(schema.mail_attachments.c.path)).scalars() if p]
    assert files and all(f.is_file() for f in files)

    sync_incidents(store)  # the knowledge base's search index has the closed tickets' text
    assert "13812341234" in _indexed(store)
    start, end = now() - timedelta(days=1), now() + timedelta(days=1)
    before = load_stats(store, desk.policy, start, end, end).summary()
    later = now() + timedelta(days=24 * 31 + 2)  # 24 months and more after the closures

    dry = purge_expired(store, later, 24, actor="auditor", dry_run=True)
    assert (sorted(dry.tickets), dry.attachments, dry.requesters) == (sorted([old.incident_id, closed.id]), 1, 1)
    assert all(f.is_file() for f in files) and "13812341234" in _texts(store, old.incident_id)

    assert purge_expired(store, now() + timedelta(days=200), 24).tickets == []  # not old enough yet
    result = purge_expired(store, later, 24, actor="auditor")
    assert sorted(result.tickets) == sorted([old.incident_id, closed.id])
    assert (result.attachments, result.files, result.requesters) == (1, 1, 1)
    assert not any(f.exists() for f in files)

    for iid in (old.incident_id, closed.id):
        text = _texts(store, iid)
        for secret in ("13812341234", "13712345678", "wf@acme.example", "13600001111", "li@corp.example",
                       "13900001111"):  # fmt: skip
            assert secret not in text, (iid, secret, text)
        assert "2026-12-07 10:00" in text or iid == old.incident_id  # dates are not phone numbers
    assert "138****1234" in _texts(store, old.incident_id)
    assert "13812341234" not in _indexed(store) and "138****1234" in _indexed(store)
    with store.engine.connect() as conn:
        people = {r.email: r for r in conn.execute(select(schema.requesters)).all()}
        details = {r.incident_id: r for r in conn.execute(select(schema.ticket_details)).all()}
        senders = set(conn.execute(select(schema.mail_messages.c.sender)).scalars())
        attachments = conn.execute(select(schema.mail_attachments)).all()
        audit = conn.execute(select(schema.audit).where(schema.audit.c.action.like("desk.purge%"))
                             .order_by(schema.audit.c.id)).all()  # fmt: skip
    assert "wf@acme.example" not in people and any(r.name == PURGED_NAME and r.phone is None for r in people.values())
    assert people["li@corp.example"].phone == "13600001111"  # still has an open ticket
    kept = details[still_open.id]
    assert kept.requester_id == people["li@corp.example"].id and kept.purged_at is None
    assert details[closed.id].requester_id is None and details[closed.id].purged_at is not None
    assert senders == {""} and attachments == []
    assert [a.action for a in audit] == ["desk.purge.dry_run", "desk.purge", "desk.purge"]
    assert audit[1].actor == "opsagent (retention)" and audit[1].detail["tickets"] == 0
    assert audit[2].actor == "auditor" and audit[2].detail["tickets"] == 2 and audit[2].detail["attachments"] == 1

    after = load_stats(store, desk.policy, start, end, end).summary()
    assert after == before and after["total"] == 3 and after["satisfaction"]["responses"] == 2
    assert purge_expired(store, later, 24).tickets == []  # once only


def _article_texts(store: Store, article_id: int) -> str:
    with store.engine.connect() as conn:
        parts = conn.execute(select(schema.kb_translations.c.title, schema.kb_translations.c.body)
                             .where(schema.kb_translations.c.article_id == article_id)).all()  # fmt: skip
        parts += conn.execute(select(schema.kb_versions.c.title, schema.kb_versions.c.body)
                              .where(schema.kb_versions.c.article_id == article_id)).all()  # fmt: skip
        parts += conn.execute(select(schema.kb_search.c.title, schema.kb_search.c.body, schema.kb_search.c.flat)
                              .where(schema.kb_search.c.kind == "article", schema.kb_search.c.ref == article_id)
                              ).all()  # fmt: skip
    assert parts
    return json.dumps([list(p) for p in parts], ensure_ascii=False)


def test_purge_masks_the_articles_harvested_from_old_tickets(desk: MailDesk) -> None:
    """Publishing a ticket as knowledge copies its text into an article: the purge masks phones and emails
    there too (translations, versions, search document) — only in articles of purged tickets."""
    store = desk.store
    ticket = TicketRequest(title="打印机卡纸，回电 13812341234", channel="phone", category="hardware",
                           requester=RequesterSpec(name="王芳", phone="13812341234", email="wf@acme.example"),
                           symptom="卡纸；联系 wf@acme.example")  # fmt: skip
    old = open_ticket(store, desk.policy, desk.desk, ticket, "desk-user")
    recent = open_ticket(store, desk.policy, desk.desk, ticket.model_copy(update={"title": "又卡纸 13812341234"}),
                         "desk-user")  # fmt: skip
    for opened in (old, recent):
        _close(desk, opened.id)
    with store.transaction() as conn:  # closed three years ago
        conn.execute(update(schema.incidents).where(schema.incidents.c.id == old.id)
                     .values(closed_at=now() - timedelta(days=3 * 366)))  # fmt: skip
    harvested = from_incident(store, old.id, "engineer")
    kept = from_incident(store, recent.id, "engineer")
    assert "13812341234" in _article_texts(store, harvested) and "wf@acme.example" in _article_texts(store, harvested)

    dry = purge_expired(store, now(), 24, dry_run=True)
    assert (dry.tickets, dry.articles) == ([old.id], 1) and "13812341234" in _article_texts(store, harvested)
    result = purge_expired(store, now(), 24, actor="auditor")
    assert (result.tickets, result.articles) == ([old.id], 1)
    text = _article_texts(store, harvested)
    assert "13812341234" not in text and "wf@acme.example" not in text
    assert "138****1234" in text and "w***@acme.example" in text
    assert "13812341234" in _article_texts(store, kept)  # its ticket is not old enough
    with store.engine.connect() as conn:
        audit = conn.execute(select(schema.audit.c.detail).where(schema.audit.c.action == "desk.purge")
                             .order_by(schema.audit.c.id)).scalars().all()  # fmt: skip
    assert audit[-1]["articles"] == 1 and audit[-1]["ticket_ids"] == [old.id]


def test_the_purge_command_dry_run_and_the_setting(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    root = content_root(tmp_path / "content")
    env = {**os.environ, "OPSAGENT_HOME": str(home), "PYTHONPATH": str(REPO), "LANG": "C.UTF-8"}
    (home / "opsagent.yaml").write_text(f"content_roots: [{root}]\nlanguage: en\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "opsagent", *args], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    refused = run("desk", "purge")
    assert refused.returncode == 2 and "desk.retention_months" in refused.stderr
    logged = run("desk", "log", "-t", "打印机 13812341234", "-c", "hardware", "--name", "张三", "--phone",
                 "13812341234", "-o", "json")  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    ticket = json.loads(logged.stdout)["id"]
    store = Store(sqlite_url(home / "opsagent.db"))
    try:
        repo.act(store, ticket, "close", "engineer")
        with store.transaction() as conn:  # closed three years ago
            conn.execute(update(schema.incidents).where(schema.incidents.c.id == ticket)
                         .values(closed_at=now() - timedelta(days=3 * 366)))  # fmt: skip
    finally:
        store.close()
    (home / "opsagent.yaml").write_text(f"content_roots: [{root}]\nlanguage: en\ndesk: {{retention_months: 24}}\n",
                                        encoding="utf-8")  # fmt: skip
    dry = run("desk", "purge", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["tickets"] == 1 and json.loads(dry.stdout)["dry_run"] is True
    done = run("desk", "purge")
    assert done.returncode == 0 and "purged 1 ticket(s)" in done.stdout, done.stderr
    again = run("desk", "purge", "-o", "json")
    assert json.loads(again.stdout)["tickets"] == 0
    bad = home / "opsagent.yaml"
    bad.write_text("desk: {retention_months: 0}\n", encoding="utf-8")
    broken = run("desk", "purge")
    assert broken.returncode == 2 and "opsagent.yaml:1" in broken.stderr and "Traceback" not in broken.stderr
