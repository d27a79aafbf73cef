"""Console sessions: a random cookie value, kept server-side as its SHA-256 (a session row), ended by
logout, by ``session_idle_timeout`` without use or by ``session_lifetime`` after login.

The CSRF token of a session is an HMAC of its cookie value (a synchronizer token nothing needs to
store): a page puts it in its forms (``csrf_token``) or scripts send it as ``X-CSRF-Token``; another
site can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from opsagent.auth.config import AuthConfig
from opsagent.store import user_repo
from opsagent.store.engine import Store, now

COOKIE = "opsagent_session"
SECURE_COOKIE = "__Host-opsagent_session"  # under TLS: Secure, Path=/, no Domain — set by this host only
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def cookie_name(tls: bool) -> str:
    return SECURE_COOKIE if tls else COOKIE


def csrf_token(session_token: str) -> str:
    mac = hmac.new(session_token.encode(), b"opsagent csrf v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_ok(session_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(session_token).encode(), str(given).encode())


def alive(session: dict[str, Any], at: datetime, idle: float) -> bool:
    """Neither past its absolute end nor unused for ``idle`` seconds."""
    return bool(at < session["expires_at"] and (at - session["last_seen_at"]).total_seconds() <= idle)


def open_session(store: Store, config: AuthConfig, user_id: int, address: str) -> str:
    """A new session of ``user_id``; returns the cookie value (shown to the browser only)."""
    at = now()
    user_repo.drop_stale_sessions(store, at - timedelta(seconds=config.session_idle_timeout), at)
    token = secrets.token_urlsafe(32)
    user_repo.add_session(
        store, user_repo.digest(token), user_id, at + timedelta(seconds=config.session_lifetime), address
    )
    return token


def resolve(store: Store, config: AuthConfig, token: str) -> dict[str, Any] | None:
    """The enabled user of a live session; an idle or expired session is removed."""
    if not token or len(token) > 256:
        return None
    session_id = user_repo.digest(token)
    found = user_repo.get_session(store, session_id)
    if found is None:
        return None
    session, user = found
    at = now()
    if not alive(session, at, config.session_idle_timeout) or user["disabled"]:
        user_repo.drop_session(store, session_id)
        return None
    # note the use, but not on every request: a tenth of the idle timeout (at most a minute) is precise enough
    if (at - session["last_seen_at"]).total_seconds() > min(60.0, config.session_idle_timeout / 10):
        user_repo.touch_session(store, session_id, at)
    return user


def close_session(store: Store, token: str) -> None:
    user_repo.drop_session(store, user_repo.digest(token))
