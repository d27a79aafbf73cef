"""Requester-facing mail: the acknowledgement of a new ticket (with the promised response time from its
SLA clock), the ticket waiting on the requester, the ticket resolved (with the reply code that confirms
and rates it). Content is Jinja2 templates under ``desk/templates/`` (a site's root overrides the shipped
one), rendered in the sandbox, in the requester's language and time zone.

Every mail to send is first a row of ``mail_outbox`` (the ack is written in the ticket's transaction;
status mails are queued from the event log), so a kill never loses one; a row is marked sent after the
SMTP server took it. Each carries ``Auto-Submitted`` and a Message-ID recorded in the mail ledger: a
reply threads to its ticket, an auto-reply to it is recognised as a loop.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, and_, exists, insert, select, update

from opsagent.alerts.notify.senders import smtp_deliver
from opsagent.alerts.notifyconfig import EmailConfig
from opsagent.desk.mailconfig import MailConfig
from opsagent.errors import OpsAgentError, SecretError
from opsagent.sla import service
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

log = logging.getLogger(__name__)
KINDS = ("ack", "pending", "resolved")
MAX_ATTEMPTS = 5


class TemplateError(OpsAgentError):
    """A requester-facing template that is missing or does not render."""


def environment(roots: list[Path]) -> SandboxedEnvironment:
    """Templates of every content root's ``desk/templates``; the last root wins."""
    dirs = [str(root / "desk" / "templates") for root in reversed(roots) if (root / "desk" / "templates").is_dir()]
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(dirs),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render(env: SandboxedEnvironment, kind: str, lang: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body): the template's first line and the rest."""
    try:
        text = env.get_template(f"{kind}.{lang}.txt.j2").render(context)
    except jinja2.TemplateNotFound:
        raise TemplateError(f"desk/templates/{kind}.{lang}.txt.j2: no such template") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"desk/templates/{kind}.{lang}.txt.j2: {exc}") from None
    subject, _, body = text.partition("\n")
    return " ".join(subject.split())[:300], body.lstrip("\n")


def zone_of(name: str | None, default: tzinfo) -> tzinfo:
    try:
        return ZoneInfo(name) if name else default
    except (ZoneInfoNotFoundError, ValueError):
        return default


def local(value: datetime | None, zone: tzinfo) -> str:
    if value is None:
        return ""
    return f"{as_utc(value).astimezone(zone):%Y-%m-%d %H:%M} ({zone})"


def queue_status_mails(store: Store) -> int:
    """Outbox rows for the pending/resolved events of email tickets that have none yet."""
    e, d, r, o = schema.incident_events.c, schema.ticket_details.c, schema.requesters.c, schema.mail_outbox.c
    query = (
        select(e.id, e.incident_id, e.kind, r.email)
        .select_from(schema.incident_events.join(schema.ticket_details, d.incident_id == e.incident_id)
                     .join(schema.requesters, r.id == d.requester_id))
        .where(d.channel == "email", r.email.is_not(None), e.kind.in_(("pending", "resolved")),
               ~exists().where(and_(o.event_id == e.id, o.kind == e.kind)))
    )  # fmt: skip
    with store.transaction() as conn:
        rows = conn.execute(query).all()
        for row in rows:
            conn.execute(insert(schema.mail_outbox).values(
                incident_id=row.incident_id, kind=row.kind, event_id=row.id, recipient=row.email, created_at=now(),
            ))  # fmt: skip
    return len(rows)


@dataclass
class Outbox:
    store: Store
    policy: ServiceLevelPolicy
    cfg: MailConfig
    smtp: EmailConfig
    env: SandboxedEnvironment
    zone: tzinfo  # the agent's: for requesters whose record names none

    def flush(self) -> tuple[int, int]:
        """Send what waits; (sent, failed). Failures stay queued (up to MAX_ATTEMPTS tries)."""
        o = schema.mail_outbox.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(schema.mail_outbox).where(o.sent_at.is_(None), o.attempts < MAX_ATTEMPTS).order_by(o.id)
            ).all()
        sent = failed = 0
        for row in rows:
            ok, error = self._send(row)
            with self.store.transaction() as conn:
                values: dict[str, Any] = {"attempts": row.attempts + 1, "error": error[:255]}
                if ok:
                    values["sent_at"] = now()
                conn.execute(update(schema.mail_outbox).where(o.id == row.id).values(**values))
            sent, failed = sent + ok, failed + (not ok)
            if not ok:
                log.warning("desk mail #%s to the requester of #%s not sent: %s", row.id, row.incident_id, error)
        return sent, failed

    def _send(self, row: Any) -> tuple[bool, str]:
        try:
            msg = self.compose(row)
        except TemplateError as exc:
            return False, str(exc)
        if msg is None:
            return True, "ticket gone"
        try:
            return smtp_deliver(self.smtp, msg)
        except SecretError as exc:
            return False, f"credential: {exc}"
        except (OSError, smtplib.SMTPException) as exc:  # the class only: never a server's text with an address
            return False, type(exc).__name__

    def compose(self, row: Any) -> EmailMessage | None:
        found = service.get(self.store, self.policy, row.incident_id)
        if found is None:
            return None
        with self.store.engine.connect() as conn:
            person = _requester(conn, row.incident_id)
            event = conn.execute(
                select(schema.incident_events.c.message).where(schema.incident_events.c.id == row.event_id)
            ).scalar()
            first = _first_mail(conn, row.incident_id)
        zone = zone_of(person.get("timezone"), self.zone)
        clocks = found.get("clocks", {})
        tag = f"[#{row.incident_id}]"
        context = {
            "ticket": {k: found.get(k) for k in ("id", "title", "status", "priority", "team", "type")},
            "requester": {"name": person.get("name") or row.recipient, "language": person.get("language", "zh"),
                          "timezone": str(zone)},
            "response_due": local(clocks["response"].due, zone) if "response" in clocks else "",
            "resolution_due": local(clocks["resolution"].due, zone) if "resolution" in clocks else "",
            "opened_at": local(found.get("opened_at"), zone), "now": local(now(), zone), "zone": str(zone),
            "tag": tag, "message": "" if row.kind == "ack" else (event or ""), "support": self.cfg.address,
        }  # fmt: skip
        lang = "en" if person.get("language") == "en" else "zh"
        subject, body = render(self.env, row.kind, lang, context)
        if tag not in subject:
            subject = f"{tag} {subject}"
        return self._message(row, subject, body, first)

    def _message(self, row: Any, subject: str, body: str, first: str | None) -> EmailMessage:
        msg = EmailMessage()
        domain = self.cfg.address.rsplit("@", 1)[-1]
        message_id = make_msgid(f"desk{row.incident_id}.{row.kind}", domain=domain)
        msg["Subject"] = subject
        msg["From"] = self.smtp.from_
        if self.smtp.from_.lower() != self.cfg.address.lower():
            msg["Reply-To"] = formataddr(("", self.cfg.address))
        msg["To"] = row.recipient
        msg["Message-ID"] = message_id
        msg["Auto-Submitted"] = "auto-replied" if row.kind == "ack" else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        if first:
            msg["In-Reply-To"] = first
            msg["References"] = first
        msg.set_content(body)
        with self.store.transaction() as conn:  # recorded before it leaves: a reply to it always threads
            conn.execute(insert(schema.mail_messages).values(
                direction="out", message_id=message_id, sender=self.cfg.address.lower(), outcome="sent",
                reason=row.kind, incident_id=row.incident_id, at=now(),
            ))  # fmt: skip
        return msg


def _requester(conn: Connection, incident_id: int) -> dict[str, Any]:
    d, r = schema.ticket_details.c, schema.requesters.c
    row = conn.execute(
        select(r.name, r.email, r.language, r.timezone)
        .select_from(schema.ticket_details.join(schema.requesters, r.id == d.requester_id))
        .where(d.incident_id == incident_id)
    ).first()  # fmt: skip
    return dict(row._mapping) if row is not None else {}


def _first_mail(conn: Connection, incident_id: int) -> str | None:
    m = schema.mail_messages.c
    found = conn.execute(
        select(m.message_id).where(m.incident_id == incident_id, m.direction == "in", m.outcome == "ticket").limit(1)
    ).scalar()
    return str(found) if found else None
