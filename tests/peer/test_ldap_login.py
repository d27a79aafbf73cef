"""Directory logins against a real slapd: the service account finds the user, the user's own bind checks
the password, groups map to roles (the highest wins), and the user's row follows the directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsagent.auth import accounts
from opsagent.auth.config import AuthConfig
from opsagent.store import Store, sqlite_url, user_repo
from tests.e2e.agent import agent_env, wait_until
from tests.e2e.test_users_e2e import Agent
from tests.peers.ldap import Directory
from tests.peers.ports import free_port

pytestmark = pytest.mark.peer


def _config(directory: Directory, **extra: object) -> AuthConfig:
    ldap = {
        "url": directory.url,
        "bind_dn": directory.service_dn,
        "bind_password": "env:OPSAGENT_T_LDAP_SVC",
        "user_base": f"ou=people,{directory.base}",
        "group_base": f"ou=groups,{directory.base}",
        "group_roles": {
            "ops": "engineer",
            f"cn=managers,ou=groups,{directory.base}": "manager",
            "helpdesk": "requester",
        },
        "timeout": 10,
    } | extra
    return AuthConfig.model_validate({"ldap": ldap, "argon2": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}})


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ldap_directory: Directory) -> Iterator[Store]:
    monkeypatch.setenv("OPSAGENT_T_LDAP_SVC", ldap_directory.service_password)
    s = Store(sqlite_url(tmp_path / "store.db"))
    yield s
    s.close()


def test_group_mapping_gives_the_role_and_creates_the_user(store: Store, ldap_directory: Directory) -> None:
    config = _config(ldap_directory)
    result = accounts.login(store, config, "zhangwei", ldap_directory.users["zhangwei"])
    assert result.user is not None and result.method == "ldap", result
    row = user_repo.get_user(store, "zhangwei")
    assert row is not None
    assert (row["display_name"], row["email"], row["role"], row["source"], row["password_hash"]) == (
        "张伟", "zhangwei@corp.example", "engineer", "ldap", None,
    )  # fmt: skip
    lina = accounts.login(store, config, "lina", ldap_directory.users["lina"]).user
    assert lina is not None and lina["role"] == "manager"  # ops + managers (by DN): the highest
    wangfang = accounts.login(store, config, "wangfang", ldap_directory.users["wangfang"]).user
    assert wangfang is not None and wangfang["role"] == "requester"
    audit = store.audit_log(action="user.add")
    assert {r["target"] for r in audit} == {"zhangwei", "lina", "wangfang"}
    assert {r["actor"] for r in audit} == {"opsagent (ldap)"}


def test_role_follows_the_directory_at_each_login(store: Store, ldap_directory: Directory) -> None:
    config = _config(ldap_directory)
    user_repo.add_user(store, "zhangwei", {"role": "admin", "source": "ldap"}, None, "root")
    result = accounts.login(store, config, "zhangwei", ldap_directory.users["zhangwei"])
    assert result.user is not None and result.user["role"] == "engineer"
    assert store.audit_log(action="user.sync")[0]["detail"]["role"] == "engineer"


def test_refusals(store: Store, ldap_directory: Directory, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(ldap_directory)
    assert accounts.login(store, config, "zhangwei", "wrong-password").reason == "password"
    assert accounts.login(store, config, "zhangwei", "").user is None  # never an unauthenticated bind
    assert accounts.login(store, config, "nobody", "whatever-pw").reason == "unknown"
    assert accounts.login(store, config, "*", "whatever-pw").reason == "unknown"  # the filter is escaped
    assert accounts.login(store, config, "zhangwei)(uid=*", "x").reason == "unknown"
    assert accounts.login(store, config, "liuyang", ldap_directory.users["liuyang"]).reason == "no_role"
    defaulted = accounts.login(store, _config(ldap_directory, default_role="requester"), "liuyang",
                               ldap_directory.users["liuyang"])  # fmt: skip
    assert defaulted.user is not None and defaulted.user["role"] == "requester"
    user_repo.update_user(store, "liuyang", {"disabled": True}, "root", "user.disable")
    assert accounts.login(store, config, "liuyang", ldap_directory.users["liuyang"]).reason == "disabled"
    monkeypatch.setenv("OPSAGENT_T_LDAP_SVC", "not-the-service-password")
    assert accounts.login(store, config, "zhangwei", ldap_directory.users["zhangwei"]).reason == "directory"


def test_local_accounts_come_first(store: Store, ldap_directory: Directory) -> None:
    config = _config(ldap_directory)
    user_repo.add_user(
        store, "zhangwei", {"role": "admin"}, accounts.Hasher(config.argon2).hash("local-pass-1"), "root"
    )
    assert accounts.login(store, config, "zhangwei", ldap_directory.users["zhangwei"]).reason == "password"
    result = accounts.login(store, config, "zhangwei", "local-pass-1")
    assert result.user is not None and result.method == "local" and result.user["role"] == "admin"


def test_missing_ldap3_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsagent.auth.ldap import require_ldap3
    from opsagent.errors import ConfigError

    monkeypatch.setitem(sys.modules, "ldap3", None)  # as if the package were not installed
    with pytest.raises(ConfigError) as caught:
        require_ldap3()
    assert "pip install 'ldap3>=2.9,<3'" in str(caught.value.issues[0])


def test_serve_signs_in_directory_users(tmp_path: Path, ldap_directory: Directory) -> None:
    home = tmp_path
    (home / "svc.pw").write_text(ldap_directory.service_password + "\n")
    (home / "svc.pw").chmod(0o600)
    (home / "opsagent.yaml").write_text(
        "auth:\n"
        "  ldap:\n"
        f"    url: {ldap_directory.url}\n"
        f"    bind_dn: '{ldap_directory.service_dn}'\n"
        f"    bind_password: 'file:{home / 'svc.pw'}'\n"
        f"    user_base: 'ou=people,{ldap_directory.base}'\n"
        f"    group_base: 'ou=groups,{ldap_directory.base}'\n"
        "    group_roles: {ops: engineer, managers: manager}\n"
    )
    port, log = free_port(), home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
            env=agent_env(home), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    agent = Agent(port, home, proc)
    try:
        wait_until(lambda: agent.call("GET", "/healthz").status == 200, 60, "/healthz", log, proc)
        resp = agent.call("POST", "/login", {"username": "lina", "password": ldap_directory.users["lina"]})
        assert resp.status == 200, resp.body
        assert resp.body["role"] == "manager" and resp.body["display_name"] == "李娜"
        bad = agent.call("POST", "/login", {"username": "lina", "password": "wrong-one"})
        assert bad.status == 401
    finally:
        proc.terminate()
        proc.wait(30)
    rows = json.loads(agent.cli("audit", "-o", "json").stdout)
    assert [(r["action"], r["actor"]) for r in rows if r["action"].startswith("login")][:2] == [
        ("login.failed", "anonymous"), ("login", "lina"),
    ]  # fmt: skip
    assert ldap_directory.service_password not in log.read_text(errors="replace")
