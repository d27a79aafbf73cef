"""Users and roles without a server: argon2 hashing and rehash at login, the roles → permissions table,
login throttling, sessions' timeouts and CSRF tokens, audit rows with their origin (a real SQLite store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from opsagent.auth import accounts, sessions
from opsagent.auth.config import Argon2Settings, AuthConfig
from opsagent.auth.passwords import Hasher, check_new_password
from opsagent.auth.ratelimit import LoginThrottle
from opsagent.auth.roles import PERMISSIONS, READER, ROLES, read_permission
from opsagent.store import Store, schema, sqlite_url, user_repo
from opsagent.store.engine import now
from opsagent.store.origin import AUDIT_ORIGIN

FAST = Argon2Settings(time_cost=1, memory_kib=8192, parallelism=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_url(tmp_path / "store.db"))
    yield s
    s.close()


def _add(store: Store, name: str, password: str, role: str = "engineer", hasher: Hasher | None = None) -> int:
    return user_repo.add_user(store, name, {"role": role}, (hasher or Hasher(FAST)).hash(password), "root")


# -- passwords -------------------------------------------------------------------------------------
def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hasher = Hasher(FAST)
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert hasher.verify(stored, "correct horse")
    assert not hasher.verify(stored, "correct horsE")
    assert not hasher.verify(None, "correct horse")  # no account: same work, never true
    assert not hasher.verify("not a hash", "x")
    assert hasher.hash("correct horse") != stored  # salted


def test_changed_parameters_need_a_rehash() -> None:
    old = Hasher(FAST).hash("pw-123456")
    assert not Hasher(FAST).needs_rehash(old)
    assert Hasher(Argon2Settings(time_cost=2, memory_kib=8192, parallelism=1)).needs_rehash(old)


@pytest.mark.parametrize("bad", ["short", "x" * 1025, " leading-space", "trailing\n"])
def test_new_passwords_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        check_new_password(bad)


def test_login_rehashes_when_parameters_changed(store: Store) -> None:
    _add(store, "zhangsan", "pw-123456")
    before = user_repo.get_user(store, "zhangsan")["password_hash"]  # type: ignore[index]
    stronger = AuthConfig(argon2={"time_cost": 2, "memory_kib": 8192, "parallelism": 1})
    result = accounts.login(store, stronger, "zhangsan", "pw-123456")
    assert result.user is not None and result.user["username"] == "zhangsan"
    after = user_repo.get_user(store, "zhangsan")["password_hash"]  # type: ignore[index]
    assert after != before and "t=2" in after
    assert accounts.login(store, stronger, "zhangsan", "pw-123456").user is not None
    assert user_repo.get_user(store, "zhangsan")["password_hash"] == after  # type: ignore[index]


def test_login_refusals_have_reasons(store: Store) -> None:
    config = AuthConfig(argon2=FAST)
    _add(store, "lisi", "pw-123456")
    assert accounts.login(store, config, "lisi", "wrong-pass").reason == "password"
    assert accounts.login(store, config, "nobody", "pw-123456").reason == "unknown"
    assert accounts.login(store, config, "", "").reason == "password"
    user_repo.update_user(store, "lisi", {"disabled": True}, "root", "user.disable")
    assert accounts.login(store, config, "lisi", "pw-123456").reason == "disabled"


# -- roles -----------------------------------------------------------------------------------------
def test_roles_grant_what_the_table_says() -> None:
    can = {role: PERMISSIONS[role] for role in (*ROLES, READER)}
    assert "incident.ack" not in can["requester"] and "incident.read" not in can["requester"]
    assert {"incident.ack", "incident.work", "runbook.run", "runbook.approve", "alert.ingest"} <= can["engineer"]
    assert "user.manage" not in can["engineer"] and "audit.read" not in can["engineer"]
    assert {"audit.read", "content.edit"} <= can["manager"] and "user.manage" not in can["manager"]
    assert can["admin"] >= can["manager"] >= can["engineer"] >= can["requester"]
    assert "user.manage" in can["admin"]
    assert all(p.endswith(".read") for p in can[READER])


def test_read_paths_need_their_permission() -> None:
    assert read_permission("/metrics") == "metrics.read"
    assert read_permission("/api/v1/incidents/12") == "incident.read"
    assert read_permission("/api/v1/assets") == "asset.read"
    assert read_permission("/api/v1/audit") == "audit.read"
    assert read_permission("/api/v1/assetsX") is None
    assert read_permission("/api/v1/session") is None


# -- throttling ------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_five_failures_then_backoff_doubling() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, per_address=100, backoff=30, backoff_max=600, clock=clock)
    for _ in range(4):
        throttle.failed("Alice", "10.0.0.1")
        assert throttle.wait("alice", "10.0.0.9") == 0
    throttle.failed("alice", "10.0.0.1")  # the 5th: the 6th attempt waits
    assert throttle.wait("ALICE", "10.0.0.9") == 30  # per username, whatever the address or case
    assert throttle.wait("bob", "10.0.0.1") == 0
    clock.t += 30
    assert throttle.wait("alice", "10.0.0.1") == 0
    throttle.failed("alice", "10.0.0.1")
    assert throttle.wait("alice", "10.0.0.1") == 60  # doubled
    throttle.succeeded("alice")
    assert throttle.wait("alice", "10.0.0.2") == 0


def test_per_address_limit_and_forgetting() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, per_address=3, backoff=10, backoff_max=100, clock=clock)
    for name in ("a", "b", "c"):  # spraying many usernames from one address
        throttle.failed(name, "192.0.2.7")
    assert throttle.wait("d", "192.0.2.7") == 10 and throttle.wait("d", "192.0.2.8") == 0
    clock.t += 101  # failures older than backoff_max are forgotten
    throttle.failed("e", "192.0.2.7")
    assert throttle.wait("e", "192.0.2.7") == 0


# -- sessions and tokens ---------------------------------------------------------------------------
def test_session_idle_and_absolute_timeouts(store: Store) -> None:
    config = AuthConfig(session_idle_timeout=600, session_lifetime=3600)
    user_id = _add(store, "wangwu", "pw-123456")
    token = sessions.open_session(store, config, user_id, "127.0.0.1")
    assert sessions.resolve(store, config, token)["username"] == "wangwu"  # type: ignore[index]
    assert sessions.resolve(store, config, token + "x") is None
    session_id = user_repo.digest(token)
    with store.transaction() as conn:  # unused for 11 minutes
        conn.execute(
            update(schema.sessions).where(schema.sessions.c.id == session_id)
            .values(last_seen_at=now() - timedelta(minutes=11))
        )  # fmt: skip
    assert sessions.resolve(store, config, token) is None
    assert user_repo.get_session(store, session_id) is None  # removed
    token = sessions.open_session(store, config, user_id, "127.0.0.1")
    with store.transaction() as conn:  # used a second ago, but logged in beyond the lifetime
        conn.execute(
            update(schema.sessions).where(schema.sessions.c.id == user_repo.digest(token))
            .values(expires_at=now() - timedelta(seconds=1))
        )  # fmt: skip
    assert sessions.resolve(store, config, token) is None


def test_disabling_ends_sessions_and_csrf_is_bound_to_the_session(store: Store) -> None:
    config = AuthConfig()
    user_id = _add(store, "zhaoliu", "pw-123456")
    token = sessions.open_session(store, config, user_id, "127.0.0.1")
    other = sessions.open_session(store, config, user_id, "127.0.0.1")
    assert sessions.csrf_ok(token, sessions.csrf_token(token))
    assert not sessions.csrf_ok(token, sessions.csrf_token(other))
    assert not sessions.csrf_ok(token, None) and not sessions.csrf_ok(token, "")
    user_repo.update_user(store, "zhaoliu", {"disabled": True}, "root", "user.disable")
    assert sessions.resolve(store, config, token) is None


def test_user_tokens_are_stored_hashed_and_revocable(store: Store) -> None:
    _add(store, "ci-bot", "pw-123456")
    token_id, token = accounts.create_token(store, "ci-bot", "ci", None, "root")
    assert token.startswith("oat_")
    with store.engine.connect() as conn:
        stored = conn.execute(schema.user_tokens.select()).first()
    assert stored is not None and token not in str(tuple(stored)) and stored.token_sha256 == user_repo.digest(token)
    assert user_repo.user_of_token(store, token)["username"] == "ci-bot"  # type: ignore[index]
    assert user_repo.revoke_token(store, token_id, "root")
    assert user_repo.user_of_token(store, token) is None
    assert not user_repo.revoke_token(store, token_id, "root")  # once
    _, expired = accounts.create_token(store, "ci-bot", "old", now() - timedelta(seconds=1), "root")
    assert user_repo.user_of_token(store, expired) is None


def test_audit_rows_carry_their_origin_and_filter(store: Store) -> None:
    marker = AUDIT_ORIGIN.set("cli ops@bastion")
    try:
        _add(store, "sunqi", "pw-123456")
    finally:
        AUDIT_ORIGIN.reset(marker)
    store.record("alice", "incident.ack", "incident#1", {})
    rows = store.audit_log(actor="root")
    assert [(r["action"], r["target"], r["origin"]) for r in rows] == [("user.add", "sunqi", "cli ops@bastion")]
    assert [r["actor"] for r in store.audit_log(action="incident.")] == ["alice"]
    assert store.audit_log(action="incident") == []  # exact unless it ends in '.' or '*'
    assert len(store.audit_log(since=now() - timedelta(minutes=1))) == 2
    assert store.audit_log(since=now() + timedelta(minutes=1)) == []
