"""From a ticket to an article ("publish as knowledge"): a resolved incident pre-fills a draft article —
symptom, cause and steps from its service record, its alert, asset kind and groups, the runbooks run for
it — and the incident's log links the article."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from opsagent.errors import UsageError
from opsagent.knowledge import repo as articles
from opsagent.knowledge.model import KnowledgeError, Meta, Translation
from opsagent.knowledge.suggest import note_event
from opsagent.reports.i18n import T
from opsagent.store import schema
from opsagent.store.engine import Store

DONE = ("resolved", "closed")


def _incident(conn: Connection, incident_id: int) -> Any:
    i, s = schema.incidents.c, schema.incident_service.c
    row = conn.execute(
        select(schema.incidents, s.symptom, s.result)
        .select_from(schema.incidents.outerjoin(schema.incident_service, s.incident_id == i.id))
        .where(i.id == incident_id)
    ).first()
    if row is None:
        raise KnowledgeError(f"no incident #{incident_id}")
    if row.status not in DONE:
        raise UsageError(f"incident #{incident_id} is {row.status}: only a resolved or closed one becomes knowledge")
    return row


def _existing(conn: Connection, incident_id: int) -> int | None:
    a = schema.kb_articles.c
    found = conn.execute(select(a.id).where(a.source_incident == incident_id)).scalar()
    return int(found) if found is not None else None


def body_of(row: Any, lang: str) -> str:
    """The article's Markdown: symptom, cause, steps (and result), in the article's language."""
    pending = T["not_yet"][lang]
    symptom = row.symptom or "\n\n".join(p for p in (row.title, row.description) if p)
    sections = [("symptom", symptom), ("cause", row.cause), ("steps", row.resolution_steps)]
    if row.result:
        sections.append(("result", row.result))
    return "\n\n".join(f"## {T[name][lang]}\n\n{(text or pending).strip()}" for name, text in sections) + "\n"


def meta_of(conn: Connection, row: Any) -> Meta:
    a, runs = schema.assets.c, schema.runbook_runs.c
    asset = conn.execute(select(a.kind, a.groups).where(a.name == row.asset)).first() if row.asset else None
    runbooks = sorted(set(conn.execute(select(runs.runbook).where(runs.incident_id == row.id)).scalars()))
    return Meta(
        category=row.category or "",
        alerts=[row.alertname] if row.alertname else [],
        asset_kinds=[asset.kind] if asset is not None else [],
        asset_groups=list(asset.groups or []) if asset is not None else [],
        runbooks=runbooks,
        incidents=[row.id],
    )


def from_incident(store: Store, incident_id: int, actor: str, lang: str = "zh") -> int:
    """Write a draft article from a resolved incident; returns its id. Refused twice for one incident."""
    with store.transaction() as conn:
        row = _incident(conn, incident_id)
        existing = _existing(conn, incident_id)
        if existing is not None:
            raise KnowledgeError(f"incident #{incident_id} is already article #{existing}: edit that one")
        title = row.title.strip()[:300] or f"#{incident_id}"
        translation = Translation(lang=lang, title=title, body=body_of(row, lang))  # type: ignore[arg-type]
        note = f"written from incident #{incident_id}"
        article_id = articles.create_in(conn, meta_of(conn, row), [translation], actor, note, incident_id)
        note_event(conn, incident_id, actor, f"published as knowledge: article #{article_id}", article_id)
    return article_id
