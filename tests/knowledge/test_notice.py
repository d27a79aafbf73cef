"""The suggested articles reach the engineer in the ticket's notifications — a webhook, an email and a
DingTalk robot (real local receivers: aiohttp and aiosmtpd), title + console link in the message's language —
and opening that link counts the suggestion as used. Real stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notify.formats import Style
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.incidents import repo as incidents
from opsagent.knowledge import repo, suggest
from opsagent.knowledge.model import Meta, Translation
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.sla.escalation import Escalate
from opsagent.sla.notify import send_all
from opsagent.sla.service import Escalated
from opsagent.store import Store
from tests.peers.receivers import SmtpServer, WebhookServer

pytestmark = pytest.mark.peer

EXTERNAL = "http://ops.example:9810"
RULE = {"alert": "PrinterDown", "expr": 'up{kind="printer"} == 0', "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ $labels.asset }} 无法打印"}}  # fmt: skip
ZH_TITLE, EN_TITLE = "打印机脱机：重启 Print Spooler [步骤]", "Printer offline: restart the spooler"


def _article(store: Store) -> int:
    meta = Meta(status="published", alerts=["PrinterDown"], category="打印机")
    texts = [Translation(lang="zh", title=ZH_TITLE, body="1. 重启服务"), Translation(lang="en", title=EN_TITLE)]
    return repo.create(store, meta, texts, "alice")


def _config(hook: WebhookServer, smtp: SmtpServer, tag: str) -> NotifyConfig:
    receivers = [
        {"name": "hook", "webhook": {"url": hook.url(f"/{tag}/hook")}},
        {"name": "mail", "email": {"to": [f"{tag}@example.test"], "from": "opsagent@example.test",
                                   "smarthost": f"127.0.0.1:{smtp.port}", "starttls": "never"}},
        {"name": "robot", "dingtalk": {"url_ref": "env:KB_NOTICE_ROBOT"}},
    ]  # fmt: skip
    routes = [{"receiver": r["name"], "group_by": ["alertname", "asset"], "group_wait": "0s"}
              for r in receivers]  # fmt: skip
    return NotifyConfig.model_validate({"receivers": receivers, "routes": routes, "flapping": {"enabled": False},
                                        "evaluation": {"external_url": EXTERNAL}})  # fmt: skip


def _mails(smtp: SmtpServer, tag: str) -> list[Message]:
    return [m for m in smtp.messages if m["To"] == f"{tag}@example.test"]


def _text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


def _posts(hook: WebhookServer, path: str) -> list[Any]:
    return [body for p, body in hook.received if p == path]


async def test_alert_notifications_name_the_suggested_articles(
    kb_store: Store, tmp_path: Path, webhook_server: WebhookServer, smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    tag = f"kbn-{tmp_path.name}"
    monkeypatch.setenv("KB_NOTICE_ROBOT", webhook_server.url(f"/{tag}/robot"))
    article_id = _article(kb_store)
    doc = parse_yaml_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [RULE]}]}), "t.rules.yaml")
    history = SeriesHistory(retention=3600)
    engine = AlertEngine(kb_store, history, compile_document(doc), _config(webhook_server, smtp_server, tag))
    engine.dispatcher.style = Style("zh", ZoneInfo("Asia/Shanghai"))
    t = time.time()
    history.ingest("test", [("up", {"asset": "fin-printer", "kind": "printer"}, 0.0, "gauge")], t, replace=True)
    result = await engine.tick(t)
    assert len(result.opened) == 1
    incident_id = result.opened[0]
    url = f"{EXTERNAL}/console/kb/{article_id}?incident={incident_id}"

    [hook] = _posts(webhook_server, f"/{tag}/hook")
    assert hook["alerts"][0]["knowledge"] == [{"id": article_id, "title": ZH_TITLE, "url": url}]
    [mail] = _mails(smtp_server, tag)
    assert f"推荐知识：KB #{article_id} {ZH_TITLE} {url}" in _text(mail)
    [robot] = [b for p, b in webhook_server.received if p.startswith(f"/{tag}/robot")]
    # markdown link text: the title's brackets cannot end the link early
    assert f"推荐知识：[KB #{article_id} 打印机脱机：重启 Print Spooler (步骤)]({url})" in robot["markdown"]["text"]

    # the engineer opens the link: the suggestion counts as used, once, on the ticket's log
    assert suggest.usage(kb_store) == {"suggested": 1, "used": 0}
    assert suggest.opened(kb_store, article_id, incident_id, "lisi") is True
    assert suggest.opened(kb_store, article_id, incident_id, "lisi") is False
    assert suggest.usage(kb_store) == {"suggested": 1, "used": 1}
    [row] = suggest.for_incident(kb_store, incident_id)
    assert row["used_by"] == "lisi"
    found = incidents.get(kb_store, incident_id)
    assert found is not None
    assert [e["actor"] for e in found["events"] if e["kind"] == "knowledge"] == ["lisi"]


async def test_an_alert_without_suggestions_is_notified_as_before(
    kb_store: Store, tmp_path: Path, webhook_server: WebhookServer, smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    tag = f"kbn0-{tmp_path.name}"
    monkeypatch.setenv("KB_NOTICE_ROBOT", webhook_server.url(f"/{tag}/robot"))
    doc = parse_yaml_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [RULE]}]}), "t.rules.yaml")
    history = SeriesHistory(retention=3600)
    engine = AlertEngine(kb_store, history, compile_document(doc), _config(webhook_server, smtp_server, tag))
    t = time.time()
    history.ingest("test", [("up", {"asset": "p2", "kind": "printer"}, 0.0, "gauge")], t, replace=True)
    await engine.tick(t)
    [hook] = _posts(webhook_server, f"/{tag}/hook")
    assert hook["alerts"][0]["knowledge"] == []
    [mail] = _mails(smtp_server, tag)
    assert "suggested knowledge" not in _text(mail) and "/console/kb/" not in _text(mail)


async def test_escalation_notices_name_the_suggested_articles(
    kb_store: Store, tmp_path: Path, webhook_server: WebhookServer, smtp_server: SmtpServer
) -> None:
    tag = f"kbe-{tmp_path.name}"
    article_id = _article(kb_store)
    incident_id, _ = incidents.fire(
        kb_store, incidents.AlertInput("fp-esc", "PrinterDown", {"alertname": "PrinterDown"}, {"summary": "打印机"})
    )
    config = _config(webhook_server, smtp_server, tag)
    step = Escalated(incident_id, "打印机", "P2", Escalate("resolution", 2, 100.0, ("channel:hook", "team:mail")))
    results = await send_all([step], config, Style("en"), kb_store)
    assert [ok for _, ok, _ in results] == [True, True]
    url = f"{EXTERNAL}/console/kb/{article_id}?incident={incident_id}"
    [hook] = _posts(webhook_server, f"/{tag}/hook")
    assert hook["alerts"][0]["knowledge"] == [{"id": article_id, "title": EN_TITLE, "url": url}]
    [mail] = _mails(smtp_server, tag)
    assert f"suggested knowledge: KB #{article_id} {EN_TITLE} {url}" in _text(mail)
