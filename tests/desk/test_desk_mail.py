"""The email channel against a real Dovecot (IMAPS and STARTTLS) and a real SMTP receiver, through the
real CLI: the scripted exchange of a Chinese GBK mail from first mail to closed ticket with satisfaction,
kill -9 of a real `opsagent desk mail fetch` mid-batch (no mail lost, none doubled), and loops refused."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import time
from email.header import Header
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opsagent.store import schema
from opsagent.store.engine import Store
from opsagent.store.urls import sqlite_url
from tests.desk.helpers import content_root
from tests.e2e.agent import agent_env, opsagent, start_agent, terminate, wait_until
from tests.peers.dovecot import Dovecot
from tests.peers.ports import free_port
from tests.peers.receivers import SmtpServer

SUPPORT = "support@example.com"


def _home(tmp_path: Path, dovecot: Dovecot, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch, tls: str) -> Path:
    dovecot.clear()
    smtp.clear()
    content = content_root(tmp_path / "content")
    (content / "alerts" / "notifications.yaml").write_text(
        "receivers:\n"
        f"  - name: desk-mail\n    email: {{to: [ops@example.test], from: {SUPPORT},"
        f" smarthost: '127.0.0.1:{smtp.port}', starttls: never}}\n"
    )
    port = dovecot.ssl_port if tls == "imaps" else dovecot.port
    monkeypatch.setenv("DESK_IMAP_PW", dovecot.password)
    (tmp_path / "opsagent.yaml").write_text(
        f"seed_inventory: []\ncontent_roots: [{content}]\ntimezone: Asia/Shanghai\n"
        f"desk_mail:\n  host: 127.0.0.1\n  port: {port}\n  tls: {tls}\n  cafile: {dovecot.cafile}\n"
        f"  user: {dovecot.user}\n  password: env:DESK_IMAP_PW\n  address: {SUPPORT}\n"
        "  internal_domains: [corp.example]\n  rate_limit: 5\n"
    )
    return tmp_path


def _fetch(home: Path) -> dict[str, object]:
    done = opsagent("desk", "mail", "fetch", "-o", "json", home=home)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def _gbk_mail() -> bytes:
    """As Foxmail/Outlook send it: labelled gb2312 but with GBK-only characters (镕), an RFC 2047 gbk
    subject and From name, a gbk 8-bit body, an RFC 2231 gbk file name."""
    subject = "=?gbk?B?" + base64.b64encode("打印机无法打印（朱镕）".encode("gbk")).decode() + "?="
    name = "=?gbk?B?" + base64.b64encode("朱镕".encode("gbk")).decode() + "?="
    filename = "".join(f"%{b:02X}" for b in "错误截图.txt".encode("gbk"))
    return (
        (
            f"From: {name} <zhu.rong@acme.example>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
            "Message-ID: <gbk-1@acme.example>\r\nDate: Sun, 06 Dec 2026 09:00:00 +0800\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + "三楼打印机卡纸，报错 E05。喆\r\n".encode("gbk")
        + (
            "--b1\r\nContent-Type: text/plain; name=x.txt\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename*=gbk''{filename}\r\n\r\n"
            + base64.b64encode(b"E05 paper jam").decode()
            + "\r\n--b1--\r\n"
        ).encode()
    )


def _reply(to: Message, body: str, message_id: str, subject: str | None = None) -> bytes:
    head = (f"From: zhu.rong@acme.example\r\nTo: {SUPPORT}\r\nMessage-ID: {message_id}\r\n"
            f"In-Reply-To: {to['Message-ID']}\r\nReferences: {to['Message-ID']}\r\n"
            f"Subject: {Header(subject or 'Re: ' + str(to['Subject']), 'utf-8').encode()}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")  # fmt: skip
    return head.encode() + body.encode()


def _text(msg: Message) -> str:
    part = msg.get_payload(decode=True)
    assert isinstance(part, bytes)
    return part.decode(msg.get_content_charset() or "utf-8")


def _store(home: Path) -> Store:
    return Store(sqlite_url(home / "opsagent.db"))


@pytest.mark.parametrize("tls", ["imaps", "starttls"])
def test_a_gbk_mail_from_first_mail_to_closed_ticket(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, tls: str
) -> None:
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, tls)
    dovecot.deliver(_gbk_mail())
    assert _fetch(home) == {"new": 1, "outcomes": {"ticket": 1}, "sent": 1, "failed": 0}
    ack = smtp_server.messages[-1]
    tag = re.search(r"\[#(\d+)\]", str(ack["Subject"]))
    assert tag is not None
    iid = int(tag.group(1))
    body = _text(ack)
    assert ack["To"] == "zhu.rong@acme.example" and ack["Auto-Submitted"] == "auto-replied"
    assert "朱镕" in body and f"#{iid}" in body  # the requester's language (zh, from the mail) and name
    # the promise: an external requester's 2 h response target, in the requester's zone (the agent's)
    assert re.search(r"我们将在 \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai\) 之前响应", body), body
    shown = json.loads(opsagent("incident", "show", str(iid), "-o", "json", home=home, check=True).stdout)
    assert shown["title"] == "打印机无法打印（朱镕）" and shown["source"] == "email"
    assert "三楼打印机卡纸，报错 E05。喆" in shown["description"]
    with _store(home).engine.connect() as conn:
        files = conn.execute(select(schema.mail_attachments)).all()
        person = conn.execute(select(schema.requesters)).one()
    assert [(f.filename, f.size) for f in files] == [("错误截图.txt", 13)]
    assert Path(files[0].path).read_bytes() == b"E05 paper jam"
    assert (person.name, person.email, person.type, person.language) == ("朱镕", "zhu.rong@acme.example",
                                                                          "external", "zh")  # fmt: skip

    opsagent("incident", "pending", str(iid), "-m", "请提供打印机型号", home=home, check=True)
    assert _fetch(home)["sent"] == 1
    waiting = smtp_server.messages[-1]
    assert f"[#{iid}]" in str(waiting["Subject"]) and "请提供打印机型号" in _text(waiting)
    dovecot.deliver(_reply(waiting, "型号是 HP M404，谢谢。", "<r1@acme.example>", subject="Re: 打印机"))
    assert _fetch(home) == {"new": 1, "outcomes": {"note": 1}, "sent": 0, "failed": 0}  # by In-Reply-To alone
    shown = json.loads(opsagent("incident", "show", str(iid), "-o", "json", home=home, check=True).stdout)
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[-2:] == ["note", "resumed"]  # the requester's answer ends the wait
    assert "型号是 HP M404" in shown["events"][-2]["message"]

    opsagent("incident", "resolve", str(iid), "-m", "更换了硒鼓", home=home, check=True)
    assert _fetch(home)["sent"] == 1
    resolved = smtp_server.messages[-1]
    assert f"[#{iid}]" in str(resolved["Subject"]) and "确认 5" in _text(resolved) and "更换了硒鼓" in _text(resolved)

    dovecot.deliver(_reply(resolved, "确认 5\n打印正常了", "<r2@acme.example>"))
    assert _fetch(home)["outcomes"] == {"confirm": 1}
    shown = json.loads(opsagent("incident", "show", str(iid), "-o", "json", home=home, check=True).stdout)
    assert shown["status"] == "closed"
    with _store(home).engine.connect() as conn:
        score = conn.execute(select(schema.incident_service.c.satisfaction)).scalar()
    assert score == 5
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    later = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
    summary = json.loads(opsagent("report", "period", "--from", day, "--to", later, "--format", "json",
                                  home=home, check=True).stdout)  # fmt: skip
    assert summary["by"]["source"] == {"email": 1}
    assert summary["satisfaction"]["scores"]["5"] == 1
    assert _fetch(home) == {"new": 0, "outcomes": {}, "sent": 0, "failed": 0}  # nothing twice


def _plain(n: int, sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: 故障 {n}\r\nMessage-ID: <bulk-{n}@corp.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"第 {n} 封\r\n").encode()  # fmt: skip


def test_kill_9_mid_batch_loses_no_mail_and_doubles_none(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, "imaps")
    config = home / "opsagent.yaml"
    config.write_text(config.read_text().replace("rate_limit: 5", "rate_limit: 1000"))
    total = 400  # 8 FETCHes of 50, each committed whole: the kill falls after the first, well before the last
    dovecot.deliver_many([_plain(n, f"user{n % 7}@corp.example") for n in range(total)])
    store = _store(home)
    opsagent("desk", "mail", "fetch", "--limit", "1", home=home, check=True)  # the store exists to watch
    proc = subprocess.Popen([sys.executable, "-m", "opsagent", "desk", "mail", "fetch"], env=agent_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    done = 1
    while time.monotonic() < deadline and proc.poll() is None:
        with store.engine.connect() as conn:
            done = int(conn.execute(select(func.count()).select_from(schema.mail_messages)
                                    .where(schema.mail_messages.c.direction == "in")).scalar() or 0)  # fmt: skip
        if done >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert done < total, "the fetch finished before it could be killed"
    _fetch(home)
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.mail_messages.c.message_id, schema.mail_messages.c.incident_id)
                            .where(schema.mail_messages.c.direction == "in")).all()  # fmt: skip
        tickets = conn.execute(select(schema.incidents.c.title)).scalars().all()
        acks = conn.execute(select(func.count()).select_from(schema.mail_outbox)).scalar()
    assert sorted(r.message_id for r in rows) == sorted(f"<bulk-{n}@corp.example>" for n in range(total))
    assert sorted(tickets) == sorted(f"故障 {n}" for n in range(total))  # every mail one ticket, none twice
    assert len({r.incident_id for r in rows}) == total and acks == total


def test_loops_are_refused(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, "imaps")
    head = f"To: {SUPPORT}\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
    mails = [
        f"From: a@acme.example\r\nMessage-ID: <l1@x>\r\nAuto-Submitted: auto-replied\r\n{head}\r\nout of office\r\n",
        f"Return-Path: <>\r\nFrom: b@acme.example\r\nMessage-ID: <l2@x>\r\n{head}\r\nbounce\r\n",
        f"From: MAILER-DAEMON@mx.acme.example\r\nMessage-ID: <l3@x>\r\n{head}\r\nundeliverable\r\n",
        f"From: c@acme.example\r\nMessage-ID: <l4@x>\r\nTo: {SUPPORT}\r\nSubject: r\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="z"\r\n\r\n--z\r\n\r\nx\r\n--z--\r\n',
        f"From: {SUPPORT}\r\nMessage-ID: <l5@x>\r\n{head}\r\nourselves\r\n",
        *(f"From: flood@acme.example\r\nMessage-ID: <f{n}@x>\r\n{head}\r\nflood {n}\r\n" for n in range(8)),
    ]
    dovecot.deliver_many([m.encode() for m in mails])
    result = _fetch(home)
    assert result["outcomes"] == {"skipped:auto_submitted": 1, "skipped:bounce": 3, "skipped:own_address": 1,
                                  "ticket": 5, "skipped:rate_limited": 3}  # fmt: skip
    assert result["sent"] == 5 and {m["To"] for m in smtp_server.messages} == {"flood@acme.example"}
    # our own acknowledgement coming back (an echo through a forwarder) is no new ticket
    echo = smtp_server.messages[0].as_bytes()
    dovecot.deliver(echo)
    assert _fetch(home)["outcomes"] == {"skipped:auto_submitted": 1}
    echo_stripped = echo.replace(b"Auto-Submitted: auto-replied\n", b"")
    dovecot.deliver(echo_stripped.replace(f"From: {SUPPORT}".encode(), b"From: fwd@acme.example"))
    assert _fetch(home)["outcomes"] == {"skipped:own_message": 1}


def test_english_requester_gets_english_mail_in_their_own_zone(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, "imaps")
    dovecot.deliver(
        b"From: Ann Lee <ann@corp.example>\r\nTo: support@example.com\r\nSubject: VPN down\r\n"
        b"Message-ID: <en-1@corp.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>The VPN drops <b>every</b> minute.</p><script>x()</script>"
    )
    assert _fetch(home)["outcomes"] == {"ticket": 1}
    ack = _text(smtp_server.messages[-1])
    assert "Dear Ann Lee" in ack and re.search(r"We will respond by .* \(Asia/Shanghai\)", ack), ack
    store = _store(home)
    with store.transaction() as conn:
        person = conn.execute(select(schema.requesters)).one()
        assert (person.type, person.language) == ("internal", "en")  # corp.example is an internal domain
        conn.execute(schema.requesters.update().values(timezone="Europe/Berlin"))
        iid = conn.execute(select(schema.incidents.c.id)).scalar()
        assert conn.execute(select(schema.incidents.c.description)).scalar() == "The VPN drops every minute."
    opsagent("incident", "resolve", str(iid), home=home, check=True)
    _fetch(home)
    resolved = _text(smtp_server.messages[-1])
    assert "confirm 5" in resolved and re.search(r"resolved at .* \(Europe/Berlin\)", resolved), resolved


def test_a_bad_password_or_a_dead_server_is_a_clean_error(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, "imaps")
    monkeypatch.setenv("DESK_IMAP_PW", "wrong-Pass-123")
    done = opsagent("desk", "mail", "fetch", home=home)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: imap 127.0.0.1:{dovecot.ssl_port}:") and "wrong-Pass-123" not in done.stderr
    config = home / "opsagent.yaml"
    config.write_text(config.read_text().replace(f"port: {dovecot.ssl_port}", f"port: {free_port()}"))
    done = opsagent("desk", "mail", "fetch", home=home)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "error: imap 127.0.0.1:" in done.stderr
    config.write_text(config.read_text().replace("password: env:DESK_IMAP_PW", "password: s3cret-plain"))
    done = opsagent("desk", "mail", "fetch", home=home)
    assert done.returncode == 2 and "desk_mail.password" in done.stderr and "s3cret-plain" not in done.stderr


def test_serve_polls_the_mailbox(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, "starttls")
    config = home / "opsagent.yaml"
    config.write_text(config.read_text() + "  poll_interval: 5s\n")
    agent = start_agent(home)
    try:
        dovecot.deliver(_plain(1, "ann@corp.example"))
        wait_until(lambda: any("[#" in str(m["Subject"]) for m in smtp_server.messages), 60, "the ack", agent.log,
                   agent.proc)  # fmt: skip
    finally:
        terminate(agent.proc)
    shown = json.loads(opsagent("incident", "list", "-o", "json", home=home, check=True).stdout)
    assert [(i["title"], i["source"]) for i in shown] == [("故障 1", "email")]


def _mail_from(sender: str, message_id: str, subject: str, body: str, in_reply_to: str | None = None) -> bytes:
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    head = (f"From: {sender}\r\nTo: {SUPPORT}\r\nMessage-ID: {message_id}\r\n{thread}"
            f"Subject: {Header(subject, 'utf-8').encode()}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")  # fmt: skip
    return head.encode() + body.encode()


def test_replies_from_others_than_the_requester_follow_zammad(
    tmp_path: Path, dovecot: Dovecot, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A colleague of the requester (same organisation) or someone on the thread (answering one of the
    ticket's mails) threads in as a note marked from them; a stranger typing the [#N] tag opens a ticket of
    their own; once the ticket is closed only the requester still threads in (Zammad: new_ticket)."""
    home = _home(tmp_path, dovecot, smtp_server, monkeypatch, "imaps")
    for name, email in (("王芳", "wf@acme.example"), ("李雷", "ll@acme.example")):
        opsagent("desk", "requester", "add", name, "--email", email, "--org", "ACME 有限公司", "--type", "external",
                 home=home, check=True)  # fmt: skip
    dovecot.deliver(_mail_from("王芳 <wf@acme.example>", "<z-1@acme.example>", "打印机坏了", "三楼打印机卡纸"))
    assert _fetch(home)["outcomes"] == {"ticket": 1}
    ack = smtp_server.messages[-1]
    ticket = int(re.search(r"\[#(\d+)\]", str(ack["Subject"])).group(1))  # type: ignore[union-attr]
    dovecot.deliver_many([
        _mail_from("李雷 <ll@acme.example>", "<z-2@acme.example>", f"Re: [#{ticket}] 打印机坏了", "型号 M404"),
        _mail_from("x@stranger.example", "<z-3@stranger.example>", f"[#{ticket}] 我的电脑也坏了", "开不了机"),
        _mail_from("Yan <yan@partner.example>", "<z-4@partner.example>", "Re: 打印机坏了", "配件已寄出",
                   in_reply_to=str(ack["Message-ID"])),
    ])  # fmt: skip
    assert _fetch(home)["outcomes"] == {"note": 2, "ticket": 1}
    store = _store(home)
    try:
        t, e = schema.incidents.c, schema.incident_events.c
        with store.engine.connect() as conn:
            notes = conn.execute(select(e.actor, e.message, e.detail).where(e.incident_id == ticket, e.kind == "note")
                                 .order_by(e.id)).all()  # fmt: skip
            titles = dict(conn.execute(select(t.id, t.title)).all())
        assert [(n.actor, n.detail["from_requester"]) for n in notes] == [
            ("email:l***@acme.example", False), ("email:y***@partner.example", False)]  # fmt: skip
        assert "型号 M404" in notes[0].message and "配件已寄出" in notes[1].message
        stranger = max(titles)
        assert stranger != ticket and titles[stranger] == "我的电脑也坏了"  # the foreign tag left out

        opsagent("incident", "resolve", str(ticket), home=home, check=True)
        opsagent("incident", "close", str(ticket), home=home, check=True)
        dovecot.deliver_many([
            _mail_from("Yan <yan@partner.example>", "<z-5@partner.example>", "Re: 打印机坏了", "又坏了",
                       in_reply_to=str(ack["Message-ID"])),
            _mail_from("王芳 <wf@acme.example>", "<z-6@acme.example>", f"Re: [#{ticket}] 打印机坏了", "谢谢"),
        ])  # fmt: skip
        assert _fetch(home)["outcomes"] == {"note": 1, "ticket": 1}
        with store.engine.connect() as conn:
            last = conn.execute(select(e.actor, e.detail).where(e.incident_id == ticket, e.kind == "note")
                                .order_by(e.id.desc()).limit(1)).one()  # fmt: skip
            reopened = conn.execute(select(func.count()).select_from(schema.incidents)).scalar()
        assert last.actor == "email:w***@acme.example" and last.detail["from_requester"] is True
        assert reopened == 3  # ticket, the stranger's, and the one Yan opened after the closure
    finally:
        store.close()
