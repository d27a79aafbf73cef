"""The email channel's driver: poll the support mailbox over IMAP (IMAPS, STARTTLS), hand each new
message to :class:`~opsagent.desk.mailintake.MailDesk`, then send what the outbox holds. Run once by
``opsagent desk mail fetch`` and every ``poll_interval`` by ``opsagent serve``.

New messages are those above the highest UID the ledger holds for the folder's UIDVALIDITY (a new
UIDVALIDITY starts over; the Message-ID check then keeps copies from opening tickets twice). The
messages of one ``UID FETCH`` (CHUNK of them) are taken in one store transaction. Messages are
read with ``BODY.PEEK[]`` and left in the mailbox, unflagged: the ledger, not the mailbox, is the truth.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailintake import MailDesk, Where
from opsagent.errors import OpsAgentError, SecretError

log = logging.getLogger(__name__)
CHUNK = 50
_UID = re.compile(rb"UID (\d+)")


class MailboxError(OpsAgentError):
    """The support mailbox cannot be read (connection, TLS, login, folder): names no secret."""


@dataclass
class FetchStats:
    new: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "outcomes": dict(self.outcomes), "sent": self.sent, "failed": self.failed}


def connect(cfg: MailConfig) -> imaplib.IMAP4:
    """A logged-in IMAP session; MailboxError on any failure (the password never in the message)."""
    where = f"imap {cfg.host}:{cfg.imap_port}"
    context = ssl.create_default_context(cafile=str(cfg.cafile) if cfg.cafile else None)
    try:
        password = cfg.secret.resolve().reveal()
    except SecretError as exc:
        raise MailboxError(f"desk_mail.password: {exc}") from None
    try:
        if cfg.tls == "imaps":
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(cfg.host, cfg.imap_port, ssl_context=context, timeout=cfg.timeout)
        else:
            imap = imaplib.IMAP4(cfg.host, cfg.imap_port, timeout=cfg.timeout)
            if cfg.tls == "starttls":
                imap.starttls(context)
        imap.login(cfg.user, password)
    except ssl.SSLError as exc:
        raise MailboxError(f"{where}: TLS: {exc.reason or type(exc).__name__}") from None
    except imaplib.IMAP4.error as exc:
        raise MailboxError(f"{where}: {_short(exc)}") from None
    except OSError as exc:
        raise MailboxError(f"{where}: {exc.strerror or type(exc).__name__}") from None
    return imap


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text[:200] if "login" not in text.lower() else "login refused"


def _select(imap: imaplib.IMAP4, folder: str) -> int:
    typ, _ = imap.select(_quote(folder), readonly=True)
    if typ != "OK":
        raise MailboxError(f"imap folder {folder!r}: cannot be selected")
    _, data = imap.response("UIDVALIDITY")
    if not data or data[0] is None:
        raise MailboxError(f"imap folder {folder!r}: the server sent no UIDVALIDITY")
    return int(data[0])


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def new_uids(imap: imaplib.IMAP4, after: int) -> list[int]:
    typ, data = imap.uid("SEARCH", f"UID {after + 1}:*")
    if typ != "OK":
        raise MailboxError("imap: UID SEARCH failed")
    return sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > after)


def fetch_raw(imap: imaplib.IMAP4, uids: list[int]) -> Iterator[list[tuple[int, bytes]]]:
    """[(uid, the whole message)] for ``uids``, one IMAP FETCH of CHUNK messages at a time, in UID order."""
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start : start + CHUNK]
        typ, data = imap.uid("FETCH", ",".join(map(str, chunk)), "(UID BODY.PEEK[])")
        if typ != "OK":
            raise MailboxError("imap: UID FETCH failed")
        got: dict[int, bytes] = {}
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                match = _UID.search(item[0])
                if match:
                    got[int(match.group(1))] = item[1]
        yield [(uid, got[uid]) for uid in chunk if uid in got]  # a message expunged meanwhile is simply gone


def fetch(desk: MailDesk, cfg: MailConfig, limit: int | None = None) -> FetchStats:
    """One poll: finish what a killed run left, take the new mail (at most ``limit``/``cfg.batch``)."""
    stats = FetchStats()
    desk.finish_pending()
    imap = connect(cfg)
    try:
        uidvalidity = _select(imap, cfg.folder)
        uids = new_uids(imap, desk.last_uid(cfg.folder, uidvalidity))[: limit or cfg.batch]
        for chunk in fetch_raw(imap, uids):  # the mails of one FETCH in one transaction
            for _where, outcome in desk.process_many(
                [(Where(cfg.folder, uidvalidity, uid), raw) for uid, raw in chunk]
            ):
                stats.new += 1
                key = outcome.outcome if outcome.outcome != "skipped" else f"skipped:{outcome.reason}"
                stats.outcomes[key] = stats.outcomes.get(key, 0) + 1
    except (imaplib.IMAP4.error, OSError) as exc:
        raise MailboxError(f"imap {cfg.host}:{cfg.imap_port}: {_short(exc)}") from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()
    return stats
