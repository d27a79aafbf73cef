"""Local accounts and logins: validation of user fields, password checks (argon2, rehashed when the
parameters changed), directory (LDAP) logins, per-user API tokens.

``login`` returns a :class:`LoginResult` (the user, or why not) and never raises for a wrong password;
what went wrong is audited by the caller with the address it came from.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from opsagent.auth.config import AuthConfig
from opsagent.auth.passwords import MAX_LENGTH, Hasher
from opsagent.auth.roles import ROLES
from opsagent.i18n import LANGUAGES, valid_zone
from opsagent.store import user_repo
from opsagent.store.engine import Store

USERNAME = re.compile(r"^[\w][\w.@-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
TOKEN_PREFIX = "oat_"  # opsagent API token: recognisable in a leaked file or a secret scanner


def check_username(name: str) -> str:
    if not USERNAME.fullmatch(name):
        raise ValueError(f"invalid username {name[:70]!r}: 1-64 letters, digits, '.', '_', '-', '@'")
    return name


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """ValueError naming the first invalid field of a user's settings."""
    role, language, zone, email = (fields.get(k) for k in ("role", "language", "timezone", "email"))
    if role is not None and role not in ROLES:
        raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language: {language!r} is not one of {', '.join(LANGUAGES)}")
    if zone:
        valid_zone(zone)
    if email and not EMAIL.fullmatch(email):
        raise ValueError(f"email: {email[:80]!r} is not an address")
    if len(fields.get("display_name") or "") > 255:
        raise ValueError("display_name: at most 255 characters")
    return fields


@dataclass(frozen=True)
class LoginResult:
    user: dict[str, Any] | None
    reason: str = ""  # why not: unknown, password, disabled, no_role, directory
    method: str = "local"


def login(store: Store, config: AuthConfig, username: str, password: str, hasher: Hasher | None = None) -> LoginResult:
    """Check a username and password: a local account's argon2 hash, else the directory if configured."""
    hasher = hasher or Hasher(config.argon2)
    if not username or len(username) > 255 or not password or len(password) > MAX_LENGTH:
        hasher.verify(None, "x")  # the same work as a real check
        return LoginResult(None, "password")
    user = user_repo.get_user(store, username)
    if (user is None or user["source"] == "ldap") and config.ldap is not None:
        from opsagent.auth.ldap import directory_login

        return directory_login(store, config.ldap, username, password, user)
    if not hasher.verify(user["password_hash"] if user else None, password):
        return LoginResult(None, "unknown" if user is None else "password")
    assert user is not None
    if user["disabled"]:
        return LoginResult(None, "disabled")
    if hasher.needs_rehash(user["password_hash"]):
        user_repo.set_hash_silently(store, user["id"], hasher.hash(password))
    return LoginResult(user)


class LastAdminError(ValueError):
    """The change would leave no enabled admin (nobody could manage users from the console again)."""


def keep_an_admin(conn: Connection) -> None:
    """A :func:`user_repo.update_user` guard: refuse a change that leaves no enabled admin."""
    if user_repo.active_admins(conn) == 0:
        raise LastAdminError("the last admin cannot be removed: make another user admin first")


def admin_guard(user: dict[str, Any] | None) -> Callable[[Connection], None] | None:
    """The guard for a change of ``user`` (its row before the change): only a change of an enabled admin
    can leave none (a store that never had an admin may still disable an engineer)."""
    if user is None or user.get("role") != "admin" or user.get("disabled"):
        return None
    return keep_an_admin


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(store: Store, username: str, label: str, expires_at: datetime | None, actor: str) -> tuple[int, str]:
    """A new API token of ``username``: (its id, the token — shown once, kept only as a digest)."""
    user = user_repo.get_user(store, username)
    if user is None:
        raise LookupError(f"no user {username!r}")
    token = new_token()
    return user_repo.add_token(store, user["id"], username, token, label, expires_at, actor), token
