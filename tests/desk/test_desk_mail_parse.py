"""The mail parser on mail as Chinese clients really send it (the cases of REAL-PEERS.md, including the
three pitfalls of Python's email package), loop marks, HTML-only mail, and a seeded fuzz: arbitrary bytes
through the parser and through the desk's intake end in a ticket or a clean skip, never an exception."""

from __future__ import annotations

import base64
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsagent.desk.content import load_desk
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailintake import MailDesk, Where
from opsagent.desk.mailparse import html_text, parse
from opsagent.sla.policy import load_policy
from opsagent.store.engine import Store
from opsagent.store.urls import sqlite_url
from tests.desk.helpers import content_root

HEAD = b"From: a@corp.example\r\nMessage-ID: <m1@corp.example>\r\nMIME-Version: 1.0\r\n"


def _b(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode('gbk' if charset != 'utf-8' else 'utf-8')).decode()}?="


def test_gb2312_label_with_gbk_only_characters_and_odd_labels() -> None:
    for label in ("gb2312", "x-gbk", "GB_2312-80", "x-euc-cn", "cp936", "GB18030"):
        raw = (
            HEAD
            + (
                f"Subject: {_b('朱镕基 喆', label)}\r\nContent-Type: text/plain; charset={label}\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n"
            ).encode()
            + "镕喆 打印机".encode("gb18030")
        )
        mail = parse(raw)
        assert mail is not None, label
        assert (mail.subject, mail.body) == ("朱镕基 喆", "镕喆 打印机"), label


def test_raw_8bit_headers_are_recovered() -> None:
    gbk = HEAD.replace(b"From: a@corp.example", "From: 张三 <z@corp.example>".encode("gbk"))
    mail = parse(gbk + "Subject: 网络中断\r\n\r\nx".encode("gbk"))
    assert mail is not None and (mail.subject, mail.sender_name, mail.sender) == ("网络中断", "张三", "z@corp.example")
    mail = parse(HEAD + "Subject: 网络中断 VPN\r\n\r\nx".encode())
    assert mail is not None and mail.subject == "网络中断 VPN"


def test_encoded_words_split_and_unspaced() -> None:
    data = "打印机".encode()
    split = f"=?utf-8?B?{base64.b64encode(data[:4]).decode()}?= =?utf-8?B?{base64.b64encode(data[4:]).decode()}?="
    mail = parse(HEAD + f"Subject: {split}\r\n\r\nx".encode())
    assert mail is not None and mail.subject == "打印机"
    mail = parse(HEAD + f"Subject: Re:{_b('打印机', 'gbk')}\r\n\r\nx".encode())
    assert mail is not None and mail.subject == "Re:打印机"


def test_attachment_names_as_clients_write_them() -> None:
    gbk = "".join(f"%{b:02X}" for b in "巡检报告.xlsx".encode("gbk"))
    utf = "".join(f"%{b:02X}" for b in "巡检报告.xlsx".encode())
    outlook = _b("巡检报告.xlsx", "gb2312")
    dispositions = {
        f"attachment; filename*=gbk''{gbk}": "巡检报告.xlsx",
        f"attachment; filename*=utf-8''{utf}": "巡检报告.xlsx",
        f"attachment; filename*0*=utf-8''{utf[:18]}; filename*1*={utf[18:]}": "巡检报告.xlsx",
        f'attachment; filename="{outlook}"': "巡检报告.xlsx",
        "attachment; filename=../../etc/passwd": "_.._etc_passwd",
    }
    for disposition, expected in dispositions.items():
        raw = (
            HEAD
            + (
                'Subject: s\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
                "--b\r\nContent-Type: text/plain\r\n\r\n"
                f"body\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: {disposition}\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"
            ).encode()
        )
        mail = parse(raw)
        assert mail is not None and len(mail.attachments) == 1, disposition
        assert mail.attachments[0].filename == expected, disposition
        assert mail.body == "body" and mail.attachments[0].data == b"\x00\x01\x02"
    only_name = (
        HEAD
        + (
            'Subject: s\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            f'Content-Type: image/png; name="{outlook}"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n'
        ).encode()
    )
    mail = parse(only_name)
    assert mail is not None and [a.filename for a in mail.attachments] == ["巡检报告.xlsx"]


def test_html_only_mail_becomes_text_without_scripts() -> None:
    html = (
        "<html><head><style>p{}</style><script>alert(1)</script></head><body><p>打印机&nbsp;坏了</p>"
        "<div>E05 &lt;3&gt;</div></body></html>"
    )
    raw = (
        HEAD
        + (
            "Subject: s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + html
        ).encode()
    )
    mail = parse(raw)
    assert mail is not None and mail.body == "打印机 坏了\n\nE05 <3>"
    assert html_text("<b>a</b><br>b") == "a\nb"


def test_loop_marks() -> None:
    cases = {
        b"Auto-Submitted: auto-replied\r\n": "auto_submitted",
        b"Auto-Submitted: no\r\n": "",
        b"Precedence: bulk\r\n": "auto_submitted",
        b"X-Autoreply: yes\r\n": "auto_submitted",
        b"Return-Path: <>\r\n": "bounce",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n": "bounce",
    }
    for header, reason in cases.items():
        mail = parse(HEAD + header + b"Subject: s\r\n\r\nbody")
        assert mail is not None and mail.loop == reason, header
    daemon = parse(HEAD.replace(b"a@corp", b"MAILER-DAEMON@corp") + b"Subject: s\r\n\r\nx")
    assert daemon is not None and daemon.loop == "bounce"


HEADERS = [
    b"Subject: =?gbk?B?",
    b"Subject: =?x-unknown?Q?=E4=B8?=",
    b"Content-Type: multipart/mixed",
    b'Content-Type: multipart/mixed; boundary="b"',
    b"Content-Type: text/html; charset=gbk",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename*=gbk''%D5%C5%",
    b"From: <>",
    b"From: \xd5\xc5",
    b"References: <a@b> <",
    b"In-Reply-To: <m1@corp.example>",
    b"Subject: [#1] [#99999999999]",
    b"Content-Type: text/plain; charset=\xff",
    b"Auto-Submitted: no",
]
MAILISH = st.one_of(
    st.binary(max_size=600),
    st.builds(
        lambda headers, body: HEAD + b"\r\n".join(headers) + b"\r\n\r\n" + body,
        st.lists(st.sampled_from(HEADERS), max_size=6),
        st.binary(max_size=300),
    ),
)
SEEDED = settings(derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@SEEDED
@given(MAILISH)
def test_fuzz_the_parser_never_raises(raw: bytes) -> None:
    mail = parse(raw)
    if mail is not None:
        assert len(mail.subject) <= 500 and len(mail.body) <= 10_000


def test_fuzz_the_intake_opens_or_skips(tmp_path: Path) -> None:
    """Arbitrary bytes through the whole intake (real SQLite store, migrations, the shipped content)."""
    content = content_root(tmp_path / "content")
    store = Store(sqlite_url(tmp_path / "desk.db"))
    roots = [content]
    cfg = MailConfig(host="imap.invalid", user="u", password="env:UNUSED", address="support@example.com")
    desk = MailDesk(store, load_policy(roots), load_desk(roots), cfg, tmp_path)
    uids = iter(range(1, 10_000))

    @settings(derandomize=True, deadline=None, database=None, max_examples=60)
    @given(MAILISH)
    def run(raw: bytes) -> None:
        outcome = desk.process(Where("INBOX", 7, next(uids)), raw)
        assert outcome.outcome in ("ticket", "note", "confirm", "skipped")

    try:
        run()
    finally:
        store.close()
