"""Requesters' phones and emails masked wherever a ticket leaves for third parties, inside free text
too: escalation notices to a real SMTP receiver and a real webhook receiver, the repair report
(md/html/pdf) and the period report. An alert's own text is left as it is."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from opsagent.alerts.notifyconfig import EmailConfig, NotifyConfig, Receiver, WebhookConfig
from opsagent.desk.content import load_desk
from opsagent.desk.intake import RequesterSpec, TicketRequest, open_ticket
from opsagent.desk.privacy import for_third_parties
from opsagent.incidents import repo
from opsagent.reports import period, repair
from opsagent.reports.document import render
from opsagent.sla import recompute, service
from opsagent.sla.notify import send_all
from opsagent.sla.policy import ServiceLevelPolicy, load_policy
from opsagent.store.engine import Store
from opsagent.store.urls import sqlite_url
from tests.desk.helpers import content_root
from tests.peers.receivers import SmtpServer, WebhookServer

CST = ZoneInfo("Asia/Shanghai")
SECRETS = ("13812341234", "wangfang@acme.example", "13700002222", "li.si@corp.example")


def _opened(tmp_path: Path) -> tuple[Store, ServiceLevelPolicy, int]:
    content = content_root(tmp_path / "content")
    policy = load_policy([content])
    store = Store(sqlite_url(tmp_path / "desk.db"))
    req = TicketRequest(
        title="打印机坏了，回电 13812341234 / wangfang@acme.example", channel="phone", category="hardware",
        requester=RequesterSpec(name="王芳", phone="13812341234", email="wangfang@acme.example", type="external"),
        symptom="卡纸，联系 13812341234", request="请今天修好，抄送 li.si@corp.example",
        promises="下午回电 13700002222",
    )  # fmt: skip
    at = datetime(2026, 11, 30, 9, 0, tzinfo=CST).astimezone(UTC)  # a Monday morning
    ticket = open_ticket(store, policy, load_desk([content]), req, "desk-user", at=at)
    return store, policy, ticket.id


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (secret, text[:2000])


def test_escalation_notices_to_real_receivers_mask_the_requester(
    tmp_path: Path, smtp_server: SmtpServer, webhook_server: WebhookServer
) -> None:
    store, policy, ticket = _opened(tmp_path)
    try:
        fired = recompute.tick(store, policy, at=datetime(2026, 11, 30, 16, 0, tzinfo=CST).astimezone(UTC))
    finally:
        store.close()
    assert fired and {f.incident_id for f in fired} == {ticket}
    config = NotifyConfig(receivers=[
        Receiver(name="user-service-center", email=EmailConfig.model_validate(
            {"to": ["center@corp.example"], "from": "opsagent@corp.example",
             "smarthost": f"127.0.0.1:{smtp_server.port}", "starttls": "never"})),
        Receiver(name="service-manager", webhook=WebhookConfig(url=webhook_server.url("/masking"))),
        Receiver(name="ops-engineer-1", webhook=WebhookConfig(url=webhook_server.url("/masking"))),
        Receiver(name="ops-engineer-2", webhook=WebhookConfig(url=webhook_server.url("/masking"))),
        Receiver(name="ops-engineer-3", webhook=WebhookConfig(url=webhook_server.url("/masking"))),
    ])  # fmt: skip
    smtp_server.clear()
    webhook_server.clear()
    results = asyncio.run(send_all(fired, config))
    assert results and all(ok for _, ok, _ in results), results
    mails = [m for m in smtp_server.messages if f"#{ticket}" in str(m.get_payload(decode=True), "utf-8")]
    hooks = [body for path, body in webhook_server.received if path == "/masking"]
    assert mails and hooks
    for mail in mails:
        body = str(mail["Subject"]) + mail.get_payload(decode=True).decode()
        _clean(body)
        assert "138****1234" in body and "w***@acme.example" in body
    for hook in hooks:
        summary = hook["alerts"][0]["annotations"]["summary"]
        _clean(str(hook))
        assert "138****1234" in summary


def test_repair_and_period_reports_mask_free_text(tmp_path: Path) -> None:
    store, policy, ticket = _opened(tmp_path)
    try:
        note = "已电话联系 13812341234，另一号码 13700002222；2026-12-01 10:00 上门"
        repo.act(store, ticket, "note", "engineer", note)
        repo.act(store, ticket, "resolve", "engineer", cause="纸路脏", resolution_steps="清洁后回访 13812341234")
        found = service.get(store, policy, ticket)
        assert found is not None
        for lang in ("zh", "en"):
            doc = repair.build(found, lang, CST)
            md = render(doc, "md").decode()
            html = render(doc, "html").decode()
            for text in (md, html):
                _clean(text)
                assert "138****1234" in text and "2026-12-01 10:00" in text
            pdf = _pdf_text(render(doc, "pdf"), tmp_path)
            _clean(pdf)
            assert "138****1234" in pdf
        start = datetime(2026, 10, 1, tzinfo=CST)
        end = datetime(2027, 1, 1, tzinfo=CST)
        stats = period.load_stats(store, policy, start, end, end)
        assert stats.total == 1
        doc = period.build(stats, "zh", CST, end)
        for fmt in ("md", "html"):
            _clean(render(doc, fmt).decode())
    finally:
        store.close()


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    assert shutil.which("pdftotext"), "poppler-utils is missing: scripts/test.sh installs it"
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout  # fmt: skip


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    [
        ("phone", "回电 13812341234", "回电 138****1234"),
        ("email", "from zhang@acme.example", "from z***@acme.example"),
        ("alert", "disk 12345678901 bytes free", "disk 12345678901 bytes free"),
        ("rule", "zhang@acme.example", "zhang@acme.example"),
    ],
)
def test_only_person_raised_text_is_masked(source: str, text: str, expected: str) -> None:
    assert for_third_parties(text, source) == expected
