"""One inbound mail onto the one ticket path: a new ticket (``open_ticket``, channel ``email``), a note on
the ticket it replies to, the requester's confirmation of a resolved ticket, or a recorded skip.

Exactly once: the ledger row of a mail (Message-ID, folder, UIDVALIDITY, UID) is written in the same
transaction as what the mail did (the ticket, the note), so an agent killed at any point either did
both or neither; the next fetch takes what the ledger lacks. A fetch commits the mails of one IMAP FETCH
(:meth:`MailDesk.process_many`) in one transaction: all of them with their ledger rows, or none. Work
that must follow its own transaction (the follow-up that closes a confirmed ticket, resuming a ticket
that waited on the requester) is kept in the ledger row as ``todo`` and finished after the batch's
commit, or by the next run when a kill came in between.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError

from opsagent.desk.content import DeskContent
from opsagent.desk.intake import IntakeError, RequesterSpec, TicketRequest, open_in
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailparse import ParsedMail, parse
from opsagent.desk.privacy import mask_email
from opsagent.errors import OpsAgentError
from opsagent.incidents.model import EventKind, Status
from opsagent.sla import service
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, now

_TAG = re.compile(r"\[#(\d{1,9})\]")
_CONFIRM = re.compile(r"^\s*(?:confirm(?:ed)?|确认|確認)\s*[:：]?\s*([1-5])\b", re.IGNORECASE | re.MULTILINE)
ACTOR_PREFIX = "email:"


@dataclass(frozen=True)
class Outcome:
    outcome: str  # ticket | note | confirm | skipped
    reason: str = ""
    incident_id: int | None = None


@dataclass(frozen=True)
class Where:
    folder: str
    uidvalidity: int
    uid: int


def _ledger(
    where: Where, mail: ParsedMail | None, message_id: str, outcome: Outcome, todo: Any = None
) -> dict[str, Any]:
    return {"direction": "in", "message_id": message_id[:998], "folder": where.folder,
            "uidvalidity": where.uidvalidity, "uid": where.uid, "sender": mail.sender if mail else "",
            "outcome": outcome.outcome, "reason": outcome.reason[:64], "incident_id": outcome.incident_id,
            "todo": null() if todo is None else todo, "at": now()}  # fmt: skip


# the statements of every mail, built once (no per-mail statement construction)
_m = schema.mail_messages.c
_LAST_UID = select(func.max(_m.uid)).where(_m.folder == bindparam("folder"), _m.uidvalidity == bindparam("uidvalidity"))
_SEEN = select(_m.uid).where(
    _m.folder == bindparam("folder"),
    _m.uidvalidity == bindparam("uidvalidity"),
    _m.uid.in_(bindparam("uids", expanding=True)),
)
_KNOWN = select(_m.direction).where(_m.message_id == bindparam("message_id")).limit(1)
_RECENT = select(func.count()).where(
    _m.sender == bindparam("sender"), _m.direction == "in", _m.at >= bindparam("since"), _m.reason != "rate_limited"
)
_LEDGER = insert(schema.mail_messages)
_ATTACHMENT = insert(schema.mail_attachments)
_OUTBOX = insert(schema.mail_outbox)
_OPENED_EVENT = select(func.min(schema.incident_events.c.id)).where(
    schema.incident_events.c.incident_id == bindparam("incident_id")
)


@dataclass
class _After:
    """What a batch does once its transaction committed."""

    opened: list[int]
    todos: list[tuple[int, int, dict[str, Any], str]]  # (mail id, incident id, todo, sender)


class MailDesk:
    """The email channel's decisions over one store, policy and desk content."""

    def __init__(self, store: Store, policy: ServiceLevelPolicy, desk: DeskContent, cfg: MailConfig, home: Path):
        self.store, self.policy, self.desk, self.cfg = store, policy, desk, cfg
        self.files = home / "desk" / "attachments"

    # -- bookkeeping --------------------------------------------------------------------------------
    def last_uid(self, folder: str, uidvalidity: int) -> int:
        with self.store.engine.connect() as conn:
            top = conn.execute(_LAST_UID, {"folder": folder, "uidvalidity": uidvalidity}).scalar()
        return int(top or 0)

    # -- mails --------------------------------------------------------------------------------------
    def process(self, where: Where, raw: bytes) -> Outcome:
        """One mail in a transaction of its own."""
        done = self.process_many([(where, raw)])
        return done[0][1] if done else Outcome("skipped", "seen")

    def process_many(self, mails: list[tuple[Where, bytes]]) -> list[tuple[Where, Outcome]]:
        """Mails of one folder and UIDVALIDITY in one transaction: each one's ticket or note with its
        ledger row, all committed together (a kill loses the batch whole; the next fetch takes it again);
        a mail the ledger already holds is left out. The knowledge suggestions of the new tickets run after
        the commit. A mail that asks for a follow-up (a confirmation, a resume) ends its transaction: the
        follow-up is applied before the next mail is read, as when each mail had its own."""
        from opsagent.knowledge.suggest import on_opened_many

        parsed = [(where, parse(raw)) for where, raw in mails]  # parsed before the write lock is taken
        done: list[tuple[Where, Outcome]] = []
        while parsed:
            try:
                taken, part, after = self._batch(parsed)
            except IntegrityError:
                # another writer recorded this requester (or mail) meanwhile: the first mail alone, once more
                # (as open_ticket retries), then the rest as a batch again
                taken, part, after = self._batch(parsed[:1])
            parsed = parsed[taken:]
            done += part
            for mail_id, incident_id, todo, sender in after.todos:
                self.finish(mail_id, incident_id, todo, sender)
            on_opened_many(self.store, after.opened)  # after the tickets' commit: never holds it up
        return done

    def _batch(self, parsed: list[tuple[Where, ParsedMail | None]]) -> tuple[int, list[tuple[Where, Outcome]], _After]:
        """(how many of ``parsed`` were taken, their outcomes, what follows the commit)."""
        done: list[tuple[Where, Outcome]] = []
        after = _After([], [])
        taken = 0
        with self.store.transaction() as conn:
            first = parsed[0][0]
            seen = set(conn.execute(_SEEN, {"folder": first.folder, "uidvalidity": first.uidvalidity,
                                            "uids": [w.uid for w, _ in parsed]}).scalars())  # fmt: skip
            for where, mail in parsed:
                taken += 1
                if (where.folder, where.uidvalidity) == (first.folder, first.uidvalidity) and where.uid in seen:
                    continue
                done.append((where, self._one(conn, where, mail, after)))
                if after.todos:
                    break
        return taken, done, after

    def _one(self, conn: Connection, where: Where, mail: ParsedMail | None, after: _After) -> Outcome:
        if mail is None:
            return self._skip(
                conn, where, None, f"<uid{where.uid}.{where.uidvalidity}@opsagent.invalid>", "unparseable"
            )
        message_id = mail.message_id or f"<uid{where.uid}.{where.uidvalidity}@opsagent.invalid>"
        reason = mail.loop or self._refused(conn, mail, message_id)
        if reason:
            return self._skip(conn, where, mail, message_id, reason)
        found = self._thread(conn, mail)
        if found is not None and self._follows_up(conn, mail, *found):
            return self._reply(conn, where, mail, message_id, found[0], after)
        return self._open(conn, where, mail, message_id, after)

    def _refused(self, conn: Connection, mail: ParsedMail, message_id: str) -> str:
        if not mail.sender:
            return "no_sender"
        if mail.sender == self.cfg.address.lower():
            return "own_address"
        known = conn.execute(_KNOWN, {"message_id": message_id}).scalar()
        if known == "out":
            return "own_message"
        if known == "in":
            return "duplicate"
        since = now() - timedelta(seconds=self.cfg.rate_window)
        recent = conn.execute(_RECENT, {"sender": mail.sender, "since": since}).scalar()
        return "rate_limited" if int(recent or 0) >= self.cfg.rate_limit else ""

    def _skip(self, conn: Connection, where: Where, mail: ParsedMail | None, message_id: str, reason: str) -> Outcome:
        outcome = Outcome("skipped", reason)
        conn.execute(_LEDGER, _ledger(where, mail, message_id, outcome))
        return outcome

    def _thread(self, conn: Connection, mail: ParsedMail) -> tuple[int, bool] | None:
        """The ticket a reply belongs to, and whether the mail names one of that ticket's mails: the
        ``[#N]`` subject tag, else a mail it refers to (``In-Reply-To``/``References``)."""
        t, m = schema.incidents.c, schema.mail_messages.c
        known: set[int] = set()
        if mail.references:
            known = {int(i) for i in conn.execute(select(m.incident_id).where(
                m.message_id.in_(mail.references), m.incident_id.is_not(None))).scalars()}  # fmt: skip
        for tag in _TAG.findall(mail.subject):
            if conn.execute(select(t.id).where(t.id == int(tag))).first() is not None:
                return int(tag), int(tag) in known
        return (min(known), True) if known else None

    def _follows_up(self, conn: Connection, mail: ParsedMail, incident_id: int, in_thread: bool) -> bool:
        """Whether a reply threads into its ticket, as Zammad decides a follow-up: the requester's own
        mail always does; another sender's mail does while the ticket is not closed (Zammad's
        ``follow_up_possible: new_ticket`` for closed tickets) and the sender is part of the
        conversation — the mail answers one of the ticket's mails (a CC'd colleague), or the sender's
        record is of the requester's organisation. A bare ``[#N]`` typed by anyone else opens a ticket of
        their own (Zammad issue 5064: a stranger's mail must not land on another customer's ticket)."""
        t, d, r = schema.incidents.c, schema.ticket_details.c, schema.requesters.c
        row = conn.execute(
            select(t.status, r.email, r.organisation_id)
            .select_from(schema.incidents.outerjoin(schema.ticket_details, d.incident_id == t.id)
                         .outerjoin(schema.requesters, r.id == d.requester_id))
            .where(t.id == incident_id)
        ).first()  # fmt: skip
        if row is None:
            return False
        if row.email is not None and row.email.lower() == mail.sender:
            return True
        if row.status == Status.CLOSED.value:
            return False
        if in_thread:
            return True
        org = conn.execute(select(r.organisation_id).where(func.lower(r.email) == mail.sender)).scalar()
        return org is not None and org == row.organisation_id

    # -- a reply: a note, a confirmation ------------------------------------------------------------
    def _reply(
        self, conn: Connection, where: Where, mail: ParsedMail, message_id: str, incident_id: int, after: _After
    ) -> Outcome:
        t, d, r = schema.incidents.c, schema.ticket_details.c, schema.requesters.c
        status = conn.execute(select(t.status).where(t.id == incident_id)).scalar()
        requester = conn.execute(
            select(r.email).select_from(schema.ticket_details.join(schema.requesters, r.id == d.requester_id))
            .where(d.incident_id == incident_id)
        ).scalar()  # fmt: skip
        confirm = _CONFIRM.search(mail.body)
        todo: dict[str, Any] | None = None
        if confirm and status == Status.RESOLVED.value and requester == mail.sender:
            outcome = Outcome("confirm", "", incident_id)
            todo = {"action": "followup", "satisfaction": int(confirm.group(1))}
        else:
            outcome = Outcome("note", "", incident_id)
            if status in (Status.OPEN.value, Status.ACKNOWLEDGED.value) and _waiting(conn, incident_id):
                todo = {"action": "resume"}
        mail_id = self._record(conn, where, mail, message_id, outcome, todo)
        text = f"{mail.subject}\n\n{mail.body}".strip()
        conn.execute(insert(schema.incident_events).values(
            incident_id=incident_id, at=now(), kind=EventKind.NOTE.value, actor=_actor(mail.sender),
            message=text[:10_000], detail={"channel": "email", "message_id": message_id[:300], "mail": mail_id,
                                           "from_requester": requester == mail.sender},
        ))  # fmt: skip
        conn.execute(update(schema.incidents).where(t.id == incident_id).values(updated_at=now()))
        if todo is not None:
            after.todos.append((mail_id, incident_id, todo, mail.sender))
        return outcome

    def finish(self, mail_id: int, incident_id: int, todo: dict[str, Any], sender: str) -> None:
        """Apply a recorded mail's follow-up action, then clear it (safe to repeat)."""
        try:
            if todo.get("action") == "followup":
                service.act(self.store, self.policy, incident_id, "followup", _actor(sender),
                            "confirmed by email", satisfaction=todo["satisfaction"])  # fmt: skip
            elif todo.get("action") == "resume":
                service.act(self.store, self.policy, incident_id, "resume", _actor(sender),
                            "the requester replied")  # fmt: skip
        except OpsAgentError:
            pass  # done before a kill, or no longer applicable (reopened, closed by hand): nothing left to do
        with self.store.transaction() as conn:
            done = update(schema.mail_messages).where(schema.mail_messages.c.id == mail_id)
            conn.execute(done.values(todo=null()))  # SQL NULL, not JSON null

    def finish_pending(self) -> int:
        """Finish what a killed run recorded but did not apply."""
        m = schema.mail_messages.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(m.id, m.incident_id, m.todo, m.sender).where(m.todo.is_not(None), m.incident_id.is_not(None))
            ).all()
        for row in rows:
            if row.todo:
                self.finish(row.id, row.incident_id, dict(row.todo), row.sender)
        return len(rows)

    # -- a new ticket -------------------------------------------------------------------------------
    def _open(self, conn: Connection, where: Where, mail: ParsedMail, message_id: str, after: _After) -> Outcome:
        domain = mail.sender.rsplit("@", 1)[-1]
        try:
            spec = RequesterSpec(
                email=mail.sender, name=mail.sender_name or mail.sender.split("@", 1)[0],
                type="internal" if domain in self.cfg.internal_domains else "external",
                language=mail.language, preferred_channel="email",
            )  # fmt: skip
            req = TicketRequest(
                title=_TAG.sub("", mail.subject).strip() or ("(无主题)" if mail.language == "zh" else "(no subject)"),
                channel="email", type=self.cfg.type, requester=spec, category=self.cfg.category,
                description=mail.body, symptom=mail.body[:2000],
            )  # fmt: skip
        except ValidationError:
            return self._skip(conn, where, mail, message_id, "bad_sender")
        stored = self._store_files(where, mail)

        def within(conn: Connection, incident_id: int, _person: dict[str, Any]) -> None:
            self._record(conn, where, mail, message_id, Outcome("ticket", "", incident_id), None, stored)
            opened = conn.execute(_OPENED_EVENT, {"incident_id": incident_id}).scalar()
            conn.execute(_OUTBOX, {"incident_id": incident_id, "kind": "ack", "event_id": int(opened or 0),
                                   "recipient": mail.sender, "created_at": now()})  # fmt: skip

        try:
            opened = open_in(conn, self.store, self.policy, self.desk, req, _actor(mail.sender), within=within)
        except IntakeError:  # raised before the ticket wrote anything
            return self._skip(conn, where, mail, message_id, "not_a_ticket")
        after.opened.append(opened.id)
        return Outcome("ticket", "", opened.id)

    def _record(self, conn: Connection, where: Where, mail: ParsedMail, message_id: str, outcome: Outcome,
                todo: Any, stored: list[tuple[str, str, int, str | None]] | None = None) -> int:  # fmt: skip
        new = conn.execute(_LEDGER, _ledger(where, mail, message_id, outcome, todo))
        assert new.inserted_primary_key is not None
        mail_id = int(new.inserted_primary_key[0])
        files = stored if stored is not None else self._store_files(where, mail)
        if files:
            conn.execute(_ATTACHMENT, [
                {"incident_id": outcome.incident_id, "mail_id": mail_id, "filename": filename, "content_type": kind,
                 "size": size, "path": path} for filename, kind, size, path in files
            ])  # fmt: skip
        return mail_id

    def _store_files(self, where: Where, mail: ParsedMail) -> list[tuple[str, str, int, str | None]]:
        """Attachments under the size cap, as files named by the mail's mailbox place: writing them
        again after a kill replaces the same files (the ledger row decides whether they count)."""
        if not mail.attachments:
            return []
        key = hashlib.sha256(f"{where.folder}\0{where.uidvalidity}\0{where.uid}".encode()).hexdigest()[:24]
        folder = self.files / key
        out: list[tuple[str, str, int, str | None]] = []
        for n, item in enumerate(mail.attachments[:50]):
            path: str | None = None
            if len(item.data) <= self.cfg.max_attachment_bytes:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                target = folder / f"{n:02d}-{item.filename}"
                target.write_bytes(item.data)
                path = str(target)
            out.append((item.filename, item.content_type, len(item.data), path))
        return out


def _actor(sender: str) -> str:
    """Who acted, for event logs and audit rows that third parties may see: the address masked (the
    ledger keeps it whole, beside the requester record)."""
    return ACTOR_PREFIX + mask_email(sender)


def _waiting(conn: Connection, incident_id: int) -> bool:
    e = schema.incident_events.c
    last = conn.execute(
        select(e.kind).where(e.incident_id == incident_id, e.kind.in_(("pending", "resumed", "resolved", "reopened",
                                                                       "closed", "acknowledged")))
        .order_by(e.id.desc()).limit(1)
    ).scalar()  # fmt: skip
    return last == "pending"
