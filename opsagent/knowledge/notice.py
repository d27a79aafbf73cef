"""The suggested articles in the notifications an engineer gets about a ticket (alert notifications and
escalation notices): each firing alert with an incident carries the published articles suggested to it —
id, title in the message's language, and a console link. Opening that link (``/console/kb/ID?incident=N``)
records the suggestion as used (:func:`opsagent.knowledge.suggest.opened`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import select

from opsagent.knowledge.repo import title_of
from opsagent.store import schema
from opsagent.store.engine import Store

if TYPE_CHECKING:
    from opsagent.alerts.notify.formats import Group

log = logging.getLogger(__name__)
PER_ALERT = 3
CONSOLE_PATH = "/console/kb/"


def article_url(external_url: str, article_id: int, incident_id: int) -> str:
    """The console page of an article, opened from a ticket's notification."""
    return f"{external_url.rstrip('/')}{CONSOLE_PATH}{article_id}?incident={quote(str(incident_id))}"


def suggested(store: Store, incident_ids: Iterable[int], lang: str) -> dict[int, list[tuple[int, str]]]:
    """incident → [(article id, title)] of its published suggestions, best first."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    s, a, t = schema.kb_suggestions.c, schema.kb_articles.c, schema.kb_translations.c
    query = (
        select(s.incident_id, s.article_id)
        .select_from(schema.kb_suggestions.join(schema.kb_articles, a.id == s.article_id))
        .where(s.incident_id.in_(ids), a.status == "published")
        .order_by(s.incident_id, s.score.desc(), s.article_id)
    )
    out: dict[int, list[tuple[int, str]]] = {}
    with store.engine.connect() as conn:
        pairs = [(int(i), int(k)) for i, k in conn.execute(query)]
        articles = sorted({k for _, k in pairs})
        titles: dict[int, dict[str, dict[str, str]]] = {}
        for row in conn.execute(select(t.article_id, t.lang, t.title).where(t.article_id.in_(articles))):
            titles.setdefault(int(row.article_id), {})[row.lang] = {"title": row.title}
    for incident_id, article_id in pairs:
        found = out.setdefault(incident_id, [])
        if len(found) < PER_ALERT:
            found.append((article_id, title_of(titles.get(article_id, {}), lang)))
    return out


def annotate(store: Store, groups: Iterable[Group], lang: str, external_url: str) -> None:
    """Put the suggested articles on the firing alerts of ``groups`` (in place); a failure leaves them
    without: the notification itself matters more."""
    alerts = [a for g in groups for a in g.firing if a.incident_id is not None]
    if not alerts:
        return
    try:
        found = suggested(store, (int(a.incident_id) for a in alerts if a.incident_id is not None), lang)
    except Exception:  # a notification is never held up by the knowledge base
        log.exception("knowledge suggestions for notifications failed")
        return
    for alert in alerts:
        assert alert.incident_id is not None
        alert.knowledge = [
            _entry(external_url, k, title, alert.incident_id) for k, title in found.get(alert.incident_id, [])
        ]


def _entry(external_url: str, article_id: int, title: str, incident_id: int) -> dict[str, Any]:
    return {"id": article_id, "title": title, "url": article_url(external_url, article_id, incident_id)}
