"""Silences and maintenance windows (matchers + time range + creator + comment), and dependency
suppression: alerts on assets behind a parent that is down are muted, not opened one by one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from opsagent.alerts.matchers import Matcher, matches_all, parse_matcher
from opsagent.errors import OpsAgentError
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

KINDS = ("silence", "maintenance")


class SilenceError(OpsAgentError):
    pass


def add_silence(
    store: Store,
    matchers: list[str],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    kind: str = "silence",
) -> int:
    if kind not in KINDS:
        raise SilenceError(f"kind must be one of {', '.join(KINDS)}")
    if not matchers:
        raise SilenceError("a silence needs at least one matcher")
    try:
        parsed = [parse_matcher(m) for m in matchers]
    except ValueError as exc:
        raise SilenceError(str(exc)) from None
    if ends_at <= starts_at:
        raise SilenceError("a silence must end after it starts")
    if not comment.strip():
        raise SilenceError("a silence needs a comment (why, and which change or ticket)")
    with store.transaction() as conn:
        row_id = conn.execute(
            insert(schema.silences).values(
                kind=kind,
                matchers=[str(m) for m in parsed],
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=created_by,
                comment=comment,
                created_at=now(),
            )
        ).inserted_primary_key
        assert row_id is not None
        row_id = row_id[0]
        store.audit(conn, created_by, f"{kind}.add", f"{kind}#{row_id}", {"matchers": matchers, "comment": comment})
    return int(row_id)


def expire_silence(store: Store, silence_id: int, actor: str) -> None:
    with store.transaction() as conn:
        done = conn.execute(
            update(schema.silences)
            .where(schema.silences.c.id == silence_id, schema.silences.c.expired_at.is_(None))
            .values(expired_at=now())
        ).rowcount
        if not done:
            raise SilenceError(f"no active silence #{silence_id}")
        store.audit(conn, actor, "silence.expire", f"silence#{silence_id}", {})


def list_silences(store: Store, include_expired: bool = False) -> list[dict[str, Any]]:
    t = schema.silences.c
    query = select(schema.silences).order_by(t.id)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    at = now()
    out = []
    for row in rows:
        for key in ("starts_at", "ends_at", "created_at", "expired_at"):
            if row[key] is not None:
                row[key] = as_utc(row[key])
        expired = row["expired_at"] is not None or row["ends_at"] <= at
        row["state"] = "expired" if expired else ("active" if row["starts_at"] <= at else "pending")
        if include_expired or not expired:
            out.append(row)
    return out


class SilenceSet:
    """The silences in force at one moment, for the evaluator's tick."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]) -> None:
        self.entries: list[tuple[int, str, list[Matcher]]] = [
            (int(r["id"]), str(r["kind"]), [parse_matcher(m) for m in r["matchers"]]) for r in rows
        ]

    @classmethod
    def active(cls, store: Store) -> SilenceSet:
        return cls(r for r in list_silences(store) if r["state"] == "active")

    def muted_by(self, labels: Mapping[str, str]) -> int | None:
        for silence_id, _kind, matchers in self.entries:
            if matches_all(matchers, labels):
                return silence_id
        return None


def ancestors(asset: str, parents: Mapping[str, list[str]]) -> set[str]:
    """Every asset ``asset`` depends on (its parents, their parents, …); cycles are harmless."""
    seen: set[str] = set()
    todo = list(parents.get(asset, []))
    while todo:
        current = todo.pop()
        if current in seen or current == asset:
            continue
        seen.add(current)
        todo.extend(parents.get(current, []))
    return seen


def parents_from_vars(assets: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, list[str]]:
    """Asset vars ``parents`` (Nagios' word) or ``depends_on``: a name or a list of names."""
    out: dict[str, list[str]] = {}
    for name, variables in assets:
        value = variables.get("parents", variables.get("depends_on"))
        if isinstance(value, str):
            out[name] = [value]
        elif isinstance(value, list):
            out[name] = [str(v) for v in value]
    return out
