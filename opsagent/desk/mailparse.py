"""One inbound mail, as real clients send it, into what the desk needs (pure; never raises).

Chinese mail: labels gb2312/gbk/cp936/x-gbk/GB_2312-80/euc-cn… are all decoded as GB18030 (their superset:
a "gb2312" mail with 镕 or 喆 in it is common), raw 8-bit header bytes are recovered from the parser's
surrogate escapes (UTF-8, else GB18030), RFC 2047 words and RFC 2231 file names are decoded here with the
same charset rule — the process-wide codec table is left alone. HTML-only mail is turned into text
(scripts and styles dropped). Loops: auto-replies (``Auto-Submitted`` other than ``no``, ``Precedence:
bulk``…) and bounces (``Return-Path: <>``, MAILER-DAEMON, ``multipart/report``) are marked, not opened.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
import urllib.parse
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from typing import Literal

MAX_BODY = 10_000
MAX_SUBJECT = 500
_GB = frozenset({"gb2312", "gbk", "cp936", "x-gbk", "x_gbk", "gb_2312-80", "gb_2312_80", "x-euc-cn", "x_euc_cn",
                 "euc-cn", "euc_cn", "csgb2312", "ms936", "gb18030", "chinese", "936"})  # fmt: skip
_MSGID = re.compile(r"<[^<>\s]{1,900}>")
_CJK = re.compile(r"[\u3400-\u9fff]")
_BOUNCERS = ("mailer-daemon", "postmaster")


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    message_id: str  # "<…>" or "" when the mail has none
    sender: str  # the From address, lower case ("" when none can be read)
    sender_name: str
    subject: str
    body: str
    references: list[str] = field(default_factory=list)  # In-Reply-To first, then References
    attachments: list[Attachment] = field(default_factory=list)
    loop: str = ""  # why this mail must not be answered or opened (auto_submitted, bounce …); "" when fine

    @property
    def language(self) -> Literal["zh", "en"]:
        return "zh" if _CJK.search(self.subject + self.body[:2000]) else "en"


def charset(label: str | None) -> str:
    """The codec for a MIME charset label: the GB family as GB18030, unknown labels as UTF-8."""
    name = (label or "").strip().strip('"').lower()
    if name in _GB:
        return "gb18030"
    import codecs

    try:
        return codecs.lookup(name).name if name else "utf-8"
    except LookupError:
        return "utf-8"


def _bytes_text(data: bytes, label: str | None) -> str:
    codec = charset(label)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        for fallback in ("utf-8", "gb18030"):
            try:
                return data.decode(fallback)
            except UnicodeDecodeError:
                continue
        return data.decode(codec, "replace")


def _recover(value: str) -> str:
    """Raw 8-bit header bytes come out of the parser as surrogate escapes: UTF-8, else GB18030."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    return _bytes_text(value.encode("ascii", "surrogateescape"), "utf-8")


def decode_words(value: str) -> str:
    """A header value with RFC 2047 encoded words (any charset label) as text."""
    value = _recover(str(value))
    out = []
    for text, label in email.header.decode_header(value):
        out.append(_bytes_text(text, label) if isinstance(text, bytes) else text)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _raw(msg: Message, name: str) -> str:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return ""


def _filename(part: Message) -> str:
    value = part.get_param("filename", None, header="content-disposition")
    if value is None:
        value = part.get_param("name", None)
    if value is None:
        return ""
    if isinstance(value, tuple):  # RFC 2231: (charset, language, %-encoded)
        label, _lang, encoded = value
        try:
            data = str(encoded).encode("latin-1", "surrogateescape")  # the parser unquoted %XX as latin-1
        except UnicodeEncodeError:
            data = str(encoded).encode("utf-8", "surrogateescape")
        text = _bytes_text(urllib.parse.unquote_to_bytes(data) if b"%" in data else data, label)
    else:
        text = decode_words(email.utils.collapse_rfc2231_value(value))
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", text).strip().lstrip(".") or "attachment"
    return name[-200:]


class _Text(HTMLParser):
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    """Readable text of an HTML body: tags and scripts gone, entities decoded, blank runs folded."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return _bytes_text(data, part.get_content_charset())


def _walk(msg: Message) -> tuple[str, str, list[Attachment]]:
    plain, html, files = "", "", []
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = part.get_content_disposition()
        name = _filename(part)
        if disposition == "attachment" or (name and disposition != "inline") or not kind.startswith("text/"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and (name or disposition == "attachment"):
                files.append(Attachment(name or "attachment", kind[:255], data))
            continue
        if kind == "text/plain" and not plain:
            plain = _part_text(part)
        elif kind == "text/html" and not html:
            html = _part_text(part)
    return plain, html, files


def _loop(msg: Message, sender: str) -> str:
    auto = _raw(msg, "auto-submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return "auto_submitted"
    if _raw(msg, "precedence").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "auto_submitted"
    if _raw(msg, "x-autoreply") or _raw(msg, "x-autorespond"):
        return "auto_submitted"
    if _raw(msg, "return-path").strip() == "<>" or msg.get_content_type() == "multipart/report":
        return "bounce"
    if sender.split("@", 1)[0] in _BOUNCERS:
        return "bounce"
    return ""


def _ids(value: str) -> list[str]:
    return _MSGID.findall(_recover(value))


def _parse(raw: bytes) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    name, address = email.utils.parseaddr(decode_words(_raw(msg, "from")))
    sender = address.strip().lower() if "@" in address else ""
    ids = _ids(_raw(msg, "message-id"))
    plain, html, files = _walk(msg)
    body = plain.strip() or html_text(html)
    return ParsedMail(
        message_id=ids[0] if ids else "",
        sender=sender[:320],
        sender_name=name.strip()[:255],
        subject=decode_words(_raw(msg, "subject"))[:MAX_SUBJECT],
        body=body[:MAX_BODY],
        references=list(dict.fromkeys(_ids(_raw(msg, "in-reply-to")) + _ids(_raw(msg, "references"))))[:50],
        attachments=files,
        loop=_loop(msg, sender),
    )


def parse(raw: bytes) -> ParsedMail | None:
    """The mail, or None when the bytes are not a mail anything can be made of (a clean skip)."""
    try:
        return _parse(raw)
    except Exception:  # hostile bytes from a mailbox end in a skip, never a traceback
        return None
