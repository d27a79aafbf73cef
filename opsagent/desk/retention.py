"""Retention of requesters' personal data (服务禁忌: 不得泄露用户隐私): ``desk.retention_months``.

A person-raised ticket closed more than N months ago loses what identifies its requester: its mail
attachments (files and rows), the link to the requester record, phone numbers and email addresses in its
free text (title, description, symptom, request, promises, result, feedback, notes, on-site visit notes,
and the knowledge base's search document of the ticket; the articles harvested from it — "publish as
knowledge" copies its text — in their translations, versions and search documents),
the sender of its mails, and the site and contact of its on-site visits. A requester record none of whose
tickets is left unpurged, and untouched since the cutoff, is emptied too (name, phone, email, notes, assets).
What the statistics read stays as it was: the incident row's source, type, category, priority, requester
type, contract and times, the event kinds and times, the SLA outcome and the satisfaction score.

One function, :func:`purge_expired`, does it: ``opsagent desk purge`` and the periodic job of
``opsagent serve`` both call it (the job can be put under a cluster leader as it is).
"""

from __future__ import annotations

import calendar
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from opsagent.desk.privacy import mask_email, mask_text
from opsagent.incidents.model import Status
from opsagent.knowledge.index import reindex_article, reindex_incidents
from opsagent.store import schema
from opsagent.store.engine import Store

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "opsagent (retention)"
PURGED_NAME = "(purged)"
BATCH = 200


@dataclass
class PurgeResult:
    cutoff: datetime
    months: int
    dry_run: bool
    tickets: list[int] = field(default_factory=list)
    attachments: int = 0
    files: int = 0
    requesters: int = 0
    texts: int = 0  # free-text fields in which something was masked
    articles: int = 0  # knowledge articles harvested from these tickets, masked

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self) | {"cutoff": self.cutoff.isoformat(), "tickets": len(self.tickets)}
        return out


def months_before(moment: datetime, months: int) -> datetime:
    """The same time ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def expired_tickets(conn: Connection, cutoff: datetime) -> list[int]:
    """Person-raised tickets, closed before ``cutoff`` (archived ones are closed), not purged yet."""
    t, d = schema.incidents.c, schema.ticket_details.c
    query = (
        select(t.id)
        .select_from(schema.incidents.join(schema.ticket_details, d.incident_id == t.id))
        .where(t.status == Status.CLOSED.value, t.closed_at < cutoff, d.purged_at.is_(None))
        .order_by(t.id)
    )
    return [int(i) for i in conn.execute(query).scalars()]


def purge_expired(
    store: Store, now: datetime, months: int, *, actor: str = SYSTEM_ACTOR, dry_run: bool = False
) -> PurgeResult:
    """Purge the personal data of tickets closed more than ``months`` months before ``now``; audited
    (who, the cutoff, how many of each). ``dry_run`` counts what would go and changes nothing."""
    cutoff = months_before(now, months)
    result = PurgeResult(cutoff, months, dry_run)
    with store.engine.connect() as conn:
        ids = expired_tickets(conn, cutoff)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        part = PurgeResult(cutoff, months, dry_run, chunk)
        with store.engine.connect() as conn, conn.begin() as trans:
            files = _purge_chunk(conn, chunk, cutoff, now, part)
            if dry_run:  # counted, then undone
                trans.rollback()
            else:
                # the files go before the commit: a kill in between leaves rows naming missing files, which
                # the next run purges again — never a file no row names any more
                part.files = _remove(files)
                store.audit(conn, actor, "desk.purge", "tickets", part.as_dict() | {"ticket_ids": chunk})
        result.files += part.files
        result.attachments += part.attachments
        result.requesters += part.requesters
        result.texts += part.texts
        result.articles += part.articles
    result.tickets = ids
    if dry_run or not ids:  # who looked, or who ran it with nothing to purge
        with store.transaction() as conn:
            detail = result.as_dict() | {"ticket_ids": ids[:1000]}
            store.audit(conn, actor, "desk.purge.dry_run" if dry_run else "desk.purge", "tickets", detail)
    if ids and not dry_run:
        log.info("desk retention: personal data of %d ticket(s) closed before %s purged", len(ids), cutoff)
    return result


def _purge_chunk(conn: Connection, ids: list[int], cutoff: datetime, now: datetime, result: PurgeResult) -> list[str]:
    d = schema.ticket_details.c
    people = {
        int(r) for r in conn.execute(select(d.requester_id).where(d.incident_id.in_(ids))).scalars() if r is not None
    }
    files = _attachments(conn, ids, result)
    result.texts += _mask_ticket_texts(conn, ids)
    result.texts += _mask_harvested(conn, ids, result)
    _mail_ledger(conn, ids)
    conn.execute(update(schema.ticket_details).where(d.incident_id.in_(ids)).values(requester_id=None, purged_at=now))
    reindex_incidents(conn, ids)  # the search index holds their text too: it gets the masked text
    result.requesters += _empty_requesters(conn, people, cutoff)
    return files


def _attachments(conn: Connection, ids: list[int], result: PurgeResult) -> list[str]:
    a = schema.mail_attachments.c
    rows = conn.execute(select(a.id, a.path).where(a.incident_id.in_(ids))).all()
    result.attachments += len(rows)
    conn.execute(delete(schema.mail_attachments).where(a.incident_id.in_(ids)))
    return [r.path for r in rows if r.path]


def _remove(paths: Iterable[str]) -> int:
    removed = 0
    for name in paths:
        path = Path(name)
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("desk retention: cannot remove an attachment: %s", type(exc).__name__)
            continue
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the mail's folder, once its last file is gone
    return removed


def _masked(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) and value else value


def _mask_rows(conn: Connection, table: Any, key: Any, ids: list[int], columns: tuple[str, ...]) -> int:
    """Mask phones and emails in the text ``columns`` of the rows whose ``key`` is in ``ids``."""
    cols = [table.c[c] for c in columns]
    changed = 0
    pks = list(table.primary_key.columns)  # more than one for some (an article's translation: id, lang)
    for row in conn.execute(select(*pks, *cols).where(key.in_(ids))).all():
        values = {c: _masked(getattr(row, c)) for c in columns}
        values = {c: v for c, v in values.items() if v != getattr(row, c)}
        if values:
            conn.execute(
                update(table).where(*(pk == value for pk, value in zip(pks, row, strict=False))).values(**values)
            )
            changed += len(values)
    return changed


def _mask_ticket_texts(conn: Connection, ids: list[int]) -> int:
    t, s, d, e = schema.incidents, schema.incident_service, schema.ticket_details, schema.incident_events
    v, n = schema.visits, schema.visit_notes
    changed = _mask_rows(conn, t, t.c.id, ids, ("title", "description", "cause", "resolution_steps"))
    changed += _mask_rows(conn, s, s.c.incident_id, ids, ("symptom", "result", "feedback"))
    changed += _mask_rows(conn, d, d.c.incident_id, ids, ("request", "promises"))
    changed += _mask_rows(conn, e, e.c.incident_id, ids, ("message",))
    changed += _mask_rows(conn, v, v.c.incident_id, ids, ("purpose", "approval_comment"))
    visits = [int(i) for i in conn.execute(select(v.c.id).where(v.c.incident_id.in_(ids))).scalars()]
    if visits:
        changed += _mask_rows(conn, n, n.c.visit_id, visits, ("message",))
        conn.execute(update(v).where(v.c.id.in_(visits)).values(site="", contact=None))
    # the opened event named the requester record: that link goes with the others
    for row in conn.execute(
        select(e.c.id, e.c.detail).where(e.c.incident_id.in_(ids), e.c.kind == "opened")
    ).all():  # fmt: skip
        if isinstance(row.detail, dict) and row.detail.get("requester") is not None:
            conn.execute(update(e).where(e.c.id == row.id).values(detail=row.detail | {"requester": None}))
    return changed


def _mask_harvested(conn: Connection, ids: list[int], result: PurgeResult) -> int:
    """Articles written from these tickets ("publish as knowledge") hold a copy of their text: masked in
    every translation and version, and their search documents rebuilt from the masked text."""
    a, tr, v = schema.kb_articles, schema.kb_translations, schema.kb_versions
    articles = [int(i) for i in conn.execute(select(a.c.id).where(a.c.source_incident.in_(ids))).scalars()]
    if not articles:
        return 0
    changed = _mask_rows(conn, tr, tr.c.article_id, articles, ("title", "body"))
    changed += _mask_rows(conn, v, v.c.article_id, articles, ("title", "body", "note"))
    for article_id in articles:
        reindex_article(conn, article_id)
    result.articles += len(articles)
    return changed


def _mail_ledger(conn: Connection, ids: list[int]) -> None:
    m, o = schema.mail_messages.c, schema.mail_outbox.c
    conn.execute(update(schema.mail_messages).where(m.incident_id.in_(ids)).values(sender=""))
    for row in conn.execute(select(o.id, o.recipient).where(o.incident_id.in_(ids))).all():
        if "***@" not in row.recipient:
            conn.execute(update(schema.mail_outbox).where(o.id == row.id).values(recipient=mask_email(row.recipient)))


def _empty_requesters(conn: Connection, people: set[int], cutoff: datetime) -> int:
    """Empty the records of ``people`` who have no ticket left and were not changed since ``cutoff``."""
    if not people:
        return 0
    r, d = schema.requesters.c, schema.ticket_details.c
    busy = {
        int(x)
        for x in conn.execute(
            select(d.requester_id).where(d.requester_id.in_(people)).group_by(d.requester_id).having(func.count() > 0)
        ).scalars()
    }
    idle = [
        int(x)
        for x in conn.execute(
            select(r.id).where(r.id.in_(people - busy), r.updated_at < cutoff, r.name != PURGED_NAME)
        ).scalars()
    ]
    if idle:
        conn.execute(update(schema.requesters).where(r.id.in_(idle)).values(
            name=PURGED_NAME, phone=None, email=None, notes="", timezone=None,
        ))  # fmt: skip
        conn.execute(delete(schema.requester_assets).where(schema.requester_assets.c.requester_id.in_(idle)))
    return len(idle)
