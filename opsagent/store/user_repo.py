"""Users, their API tokens and console sessions: rows only (the rules are in ``opsagent.auth``).

Every change that a person makes is audited in its own transaction with ``actor``; tokens and
session ids are kept as SHA-256 digests, never as values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

USER_FIELDS = ("display_name", "email", "language", "timezone", "role", "disabled", "source")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user(row: Any) -> dict[str, Any]:
    return _user_of(dict(row._mapping))


def _user_of(out: dict[str, Any]) -> dict[str, Any]:
    for key in ("created_at", "updated_at", "last_login_at"):
        if out.get(key) is not None:
            out[key] = as_utc(out[key])
    return out


def get_user(store: Store, username: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.users).where(schema.users.c.username == username)).first()
    return _user(row) if row is not None else None


def get_user_by_id(conn: Connection, user_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(schema.users).where(schema.users.c.id == user_id)).first()
    return _user(row) if row is not None else None


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(schema.users).order_by(schema.users.c.username))]


def active_admins(conn: Connection) -> int:
    """Enabled users with the admin role."""
    u = schema.users.c
    query = select(func.count()).select_from(schema.users).where(u.role == "admin", u.disabled.is_(False))
    return int(conn.execute(query).scalar_one())


def user_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.users)).scalar_one())


def add_user(store: Store, username: str, fields: dict[str, Any], password_hash: str | None, actor: str) -> int:
    at = now()
    values = {k: v for k, v in fields.items() if k in USER_FIELDS and v is not None}
    with store.transaction() as conn:
        user_id = conn.execute(
            insert(schema.users).values(
                username=username, password_hash=password_hash, created_at=at, updated_at=at, **values
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        store.audit(conn, actor, "user.add", username, {k: v for k, v in values.items() if k != "disabled"})
    return int(user_id)


def update_user(
    store: Store,
    username: str,
    values: dict[str, Any],
    actor: str,
    action: str,
    guard: Callable[[Connection], None] | None = None,
) -> bool:
    """Change ``values`` (USER_FIELDS and password_hash); audited as ``action`` (the hash never is).
    ``guard`` runs inside the transaction after the change and may raise to undo it (a rule such as
    "an admin is left")."""
    with store.transaction() as conn:
        result = conn.execute(
            update(schema.users).where(schema.users.c.username == username).values(**values, updated_at=now())
        )
        if result.rowcount == 0:
            return False
        if guard is not None:
            guard(conn)
        if values.get("disabled") or "password_hash" in values:  # signed out everywhere at once
            user_id = select(schema.users.c.id).where(schema.users.c.username == username).scalar_subquery()
            conn.execute(delete(schema.sessions).where(schema.sessions.c.user_id == user_id))
        store.audit(conn, actor, action, username, {k: v for k, v in values.items() if k != "password_hash"})
    return True


def set_hash_silently(store: Store, user_id: int, password_hash: str) -> None:
    """A rehash at login (same password, new parameters): no audit row, sessions stay."""
    with store.transaction() as conn:
        conn.execute(update(schema.users).where(schema.users.c.id == user_id).values(password_hash=password_hash))


def upsert_directory_user(store: Store, username: str, fields: dict[str, Any], actor: str) -> dict[str, Any]:
    """Create or update the row of a user the directory (LDAP) vouched for; returns it."""
    existing = get_user(store, username)
    changed = {k: v for k, v in fields.items() if existing is None or existing.get(k) != v}
    if existing is None:
        add_user(store, username, fields | {"source": "ldap"}, None, actor)
    elif changed:
        update_user(store, username, changed, actor, "user.sync")
    found = get_user(store, username)
    assert found is not None
    return found


# -- API tokens ----------------------------------------------------------------------------------
def add_token(store: Store, user_id: int, username: str, token: str, label: str, expires_at: datetime | None,
              actor: str) -> int:  # fmt: skip
    with store.transaction() as conn:
        token_id = conn.execute(
            insert(schema.user_tokens).values(
                user_id=user_id, label=label, token_sha256=digest(token), created_at=now(), expires_at=expires_at
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        store.audit(conn, actor, "token.create", username, {"token": int(token_id), "label": label})
    return int(token_id)


def list_tokens(store: Store, user_id: int | None = None) -> list[dict[str, Any]]:
    t, u = schema.user_tokens.c, schema.users.c
    query = (
        select(t.id, u.username, t.label, t.created_at, t.expires_at, t.last_used_at, t.revoked_at)
        .join_from(schema.user_tokens, schema.users, t.user_id == u.id)
        .order_by(t.id)
    )
    if user_id is not None:
        query = query.where(t.user_id == user_id)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        for key in ("created_at", "expires_at", "last_used_at", "revoked_at"):
            if row[key] is not None:
                row[key] = as_utc(row[key])
    return rows


def revoke_token(store: Store, token_id: int, actor: str) -> bool:
    t = schema.user_tokens.c
    with store.transaction() as conn:
        owner = conn.execute(
            select(schema.users.c.username).join_from(schema.user_tokens, schema.users, t.user_id == schema.users.c.id)
            .where(t.id == token_id, t.revoked_at.is_(None))
        ).scalar()  # fmt: skip
        if owner is None:
            return False
        conn.execute(update(schema.user_tokens).where(t.id == token_id).values(revoked_at=now()))
        store.audit(conn, actor, "token.revoke", owner, {"token": token_id})
    return True


def user_of_token(store: Store, token: str, touch_after: float = 60.0) -> dict[str, Any] | None:
    """The (enabled) user whose live token this is; notes its use at most once a ``touch_after``."""
    t = schema.user_tokens.c
    at = now()
    with store.engine.connect() as conn:
        row = conn.execute(
            select(t.id, t.user_id, t.last_used_at).where(
                t.token_sha256 == digest(token), t.revoked_at.is_(None), or_(t.expires_at.is_(None), t.expires_at > at)
            )
        ).first()
        user = get_user_by_id(conn, row.user_id) if row is not None else None
    if row is None or user is None or user["disabled"]:
        return None
    if row.last_used_at is None or (at - as_utc(row.last_used_at)).total_seconds() > touch_after:
        with store.transaction() as conn:
            conn.execute(update(schema.user_tokens).where(t.id == row.id).values(last_used_at=at))
    return user | {"token_id": row.id}


# -- sessions ------------------------------------------------------------------------------------
def add_session(store: Store, session_id: str, user_id: int, expires_at: datetime, address: str) -> None:
    at = now()
    with store.transaction() as conn:
        conn.execute(
            insert(schema.sessions).values(
                id=session_id, user_id=user_id, created_at=at, last_seen_at=at, expires_at=expires_at,
                address=address[:64],
            )
        )  # fmt: skip
        conn.execute(update(schema.users).where(schema.users.c.id == user_id).values(last_login_at=at))


_SESSION_FIELDS = ("id", "user_id", "created_at", "last_seen_at", "expires_at", "address")


def get_session(store: Store, session_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(session, user) of a session id: one statement (every signed-in request asks)."""
    s = schema.sessions.c
    session_cols = [s[k].label(f"session_{k}") for k in _SESSION_FIELDS]
    query = select(schema.users, *session_cols).join_from(schema.sessions, schema.users, s.user_id == schema.users.c.id)
    with store.engine.connect() as conn:
        row = conn.execute(query.where(s.id == session_id)).first()
    if row is None:
        return None
    found = dict(row._mapping)
    session = {k: found.pop(f"session_{k}") for k in _SESSION_FIELDS}
    for key in ("created_at", "last_seen_at", "expires_at"):
        session[key] = as_utc(session[key])
    return session, _user_of(found)


def touch_session(store: Store, session_id: str, at: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(update(schema.sessions).where(schema.sessions.c.id == session_id).values(last_seen_at=at))


def drop_session(store: Store, session_id: str) -> None:
    with store.transaction() as conn:
        conn.execute(delete(schema.sessions).where(schema.sessions.c.id == session_id))


def drop_stale_sessions(store: Store, idle_before: datetime, at: datetime) -> int:
    s = schema.sessions.c
    with store.transaction() as conn:
        return int(
            conn.execute(delete(schema.sessions).where(or_(s.expires_at <= at, s.last_seen_at < idle_before))).rowcount
        )
