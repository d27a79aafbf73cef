"""Problem records (问题管理): recurring tickets grouped into one problem with a root cause, a workaround (a
knowledge article) and the status of its permanent fix — open → known error → fixed → closed.

A problem is *found* when its first ticket opened; the period report lists the problems found in the period
and every problem still open at the period's start ("本期发现的问题，应在下期报告中予以跟踪"), until closed.
Every write is one transaction with its audit row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Connection, delete, func, insert, or_, select, update

from opsagent.knowledge.model import MAX_BODY, MAX_LIST, IncidentId, KnowledgeError, Name, Title
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

STATES = ("open", "known_error", "fixed", "closed")
Status = Literal["open", "known_error", "fixed", "closed"]
Text = Annotated[str, StringConstraints(max_length=MAX_BODY, pattern=r"^[^\x00]*$")]
ArticleId = Annotated[int, Field(gt=0, le=2**63 - 1)]
P, PI = schema.problems, schema.problem_incidents


class NewProblem(BaseModel):
    """``problem create`` / ``POST /api/v1/problems``."""

    model_config = ConfigDict(extra="forbid")
    title: Title
    incidents: list[IncidentId] = Field(default_factory=list, max_length=MAX_LIST * 10)
    root_cause: Text = ""
    workaround: ArticleId | None = None
    fix: Text = ""
    status: Status = "open"
    alertname: Name | None = None
    asset_group: Name | None = None
    category: Name | None = None


class ProblemChange(BaseModel):
    """``problem update`` / ``POST /api/v1/problems/{id}``: only the fields given change."""

    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    root_cause: Text | None = None
    workaround: ArticleId | None = None
    fix: Text | None = None
    status: Status | None = None


class LinkIncidents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incidents: list[IncidentId] = Field(min_length=1, max_length=MAX_LIST * 10)
    unlink: bool = False


def _check_article(conn: Connection, article_id: int | None) -> None:
    a = schema.kb_articles.c
    if article_id is not None and conn.execute(select(a.id).where(a.id == article_id)).first() is None:
        raise KnowledgeError(f"no article #{article_id}")


def _check_incidents(conn: Connection, ids: list[int]) -> None:
    i = schema.incidents.c
    found = set(conn.execute(select(i.id).where(i.id.in_(ids))).scalars()) if ids else set()
    missing = sorted(set(ids) - found)
    if missing:
        raise KnowledgeError(f"no incident #{missing[0]}")


def _exists(conn: Connection, problem_id: int) -> Any:
    row = conn.execute(select(P).where(P.c.id == problem_id)).first()
    if row is None:
        raise KnowledgeError(f"no problem #{problem_id}")
    return row


def _first_opened(conn: Connection, problem_id: int) -> datetime | None:
    i = schema.incidents.c
    query = select(func.min(i.opened_at)).select_from(PI.join(schema.incidents, i.id == PI.c.incident_id))
    found = conn.execute(query.where(PI.c.problem_id == problem_id)).scalar()
    return as_utc(found) if found is not None else None


def _link(conn: Connection, problem_id: int, ids: list[int], actor: str) -> list[int]:
    have = set(conn.execute(select(PI.c.incident_id).where(PI.c.problem_id == problem_id)).scalars())
    new = sorted(set(ids) - have)
    if new:
        at = now()
        rows = [{"problem_id": problem_id, "incident_id": n, "linked_by": actor, "linked_at": at} for n in new]
        conn.execute(insert(PI), rows)
    return new


def _refound(conn: Connection, problem_id: int) -> None:
    """A problem was found when its earliest ticket opened (or when it was recorded, having none)."""
    first = _first_opened(conn, problem_id)
    created = as_utc(_exists(conn, problem_id).created_at)
    conn.execute(update(P).where(P.c.id == problem_id).values(found_at=min(first, created) if first else created))


def create(store: Store, new: NewProblem, actor: str) -> int:
    at = now()
    with store.transaction() as conn:
        _check_article(conn, new.workaround)
        _check_incidents(conn, new.incidents)
        values = new.model_dump(exclude={"incidents", "workaround"})
        inserted = conn.execute(
            insert(P).values(
                **values,
                workaround_article=new.workaround,
                found_at=at,
                closed_at=at if new.status == "closed" else None,
                created_by=actor,
                created_at=at,
                updated_at=at,
            )
        ).inserted_primary_key
        assert inserted is not None
        problem_id = int(inserted[0])
        _link(conn, problem_id, new.incidents, actor)
        _refound(conn, problem_id)
        store.audit(conn, actor, "problem.create", f"problem:{problem_id}", {"incidents": new.incidents})
    return problem_id


def update_problem(store: Store, problem_id: int, change: ProblemChange, actor: str) -> bool:
    """Apply the fields given; returns whether anything changed. Closing stamps ``closed_at``; moving a
    closed problem back to another status clears it (it is tracked again)."""
    with store.transaction() as conn:
        row = _exists(conn, problem_id)
        given = change.model_dump(exclude_unset=True)
        if "workaround" in given:
            _check_article(conn, change.workaround)
            given["workaround_article"] = given.pop("workaround")
        wanted = {k: v for k, v in given.items() if row._mapping[k] != v}
        if not wanted:
            return False
        if "status" in wanted:
            wanted["closed_at"] = now() if wanted["status"] == "closed" else None
        conn.execute(update(P).where(P.c.id == problem_id).values(**wanted, updated_at=now()))
        detail = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in wanted.items()}
        store.audit(conn, actor, "problem.update", f"problem:{problem_id}", detail)
    return True


def link(store: Store, problem_id: int, incidents: list[int], actor: str, unlink: bool = False) -> list[int]:
    """Link (or unlink) tickets; returns the ids that changed."""
    with store.transaction() as conn:
        _exists(conn, problem_id)
        _check_incidents(conn, incidents)
        if unlink:
            where = (PI.c.problem_id == problem_id) & PI.c.incident_id.in_(incidents)
            have = sorted(set(conn.execute(select(PI.c.incident_id).where(where)).scalars()))
            conn.execute(delete(PI).where(where))
            changed = have
        else:
            changed = _link(conn, problem_id, incidents, actor)
        if changed:
            _refound(conn, problem_id)
            conn.execute(update(P).where(P.c.id == problem_id).values(updated_at=now()))
            action = "problem.unlink" if unlink else "problem.link"
            store.audit(conn, actor, action, f"problem:{problem_id}", {"incidents": changed})
    return changed


def _row(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("found_at", "closed_at", "created_at", "updated_at", "linked_at", "opened_at"):
        if data.get(key) is not None:
            data[key] = as_utc(data[key])
    return data


def _incidents_of(conn: Connection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    i = schema.incidents.c
    query = (
        select(PI.c.problem_id, i.id, i.title, i.status, i.asset, i.opened_at)
        .select_from(PI.join(schema.incidents, i.id == PI.c.incident_id))
        .where(PI.c.problem_id.in_(ids))
        .order_by(i.id)
    )
    out: dict[int, list[dict[str, Any]]] = {n: [] for n in ids}
    for row in conn.execute(query):
        data = _row(row)
        out[data.pop("problem_id")].append(data)
    return out


def _articles_of(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    a = schema.kb_articles.c
    query = select(a.id, a.key, a.status).where(a.id.in_(ids))
    return {r.id: {"id": r.id, "key": r.key, "status": r.status} for r in conn.execute(query)}


def _with_links(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    incidents = _incidents_of(conn, [r["id"] for r in rows])
    articles = _articles_of(conn, [r["workaround_article"] for r in rows if r["workaround_article"]])
    for row in rows:
        row["incidents"] = incidents[row["id"]]
        row["workaround"] = articles.get(row.pop("workaround_article"))
    return rows


def get(store: Store, problem_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(P).where(P.c.id == problem_id)).first()
        return _with_links(conn, [_row(row)])[0] if row is not None else None


def list_problems(store: Store, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(P).order_by(P.c.id.desc()).limit(limit)
    if status:
        query = query.where(P.c.status == status)
    with store.engine.connect() as conn:
        return _with_links(conn, [_row(r) for r in conn.execute(query)])


def for_incident(store: Store, incident_id: int) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(PI.c.problem_id).where(PI.c.incident_id == incident_id)).scalars())


def for_period(store: Store, start: datetime, end: datetime) -> dict[str, list[dict[str, Any]]]:
    """``found``: problems found in [start, end); ``carried``: found before it and not closed when it began —
    the earlier periods' problems tracked until closed. Each with its tickets, workaround and status now."""
    query = (
        select(P)
        .where(P.c.found_at < end, or_(P.c.closed_at.is_(None), P.c.closed_at >= start))
        .order_by(P.c.found_at, P.c.id)
    )
    with store.engine.connect() as conn:
        rows = _with_links(conn, [_row(r) for r in conn.execute(query)])
    return {
        "found": [r for r in rows if r["found_at"] >= start],
        "carried": [r for r in rows if r["found_at"] < start],
    }
