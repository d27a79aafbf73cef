"""Users, sessions, roles and the audit log through a real ``opsagent serve``: users are made with the
real CLI, sign in over HTTP, and every write is checked for its permission, its CSRF token and its
audit row (with the real name and where it came from)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.e2e.agent import agent_env, serving

TOKEN = "users-e2e-shared-s3cret"
PASSWORDS = {"zhangsan": "Zs-pass-0001", "requester1": "Rq-pass-0002", "manager1": "Mg-pass-0003",
             "gone": "Gone-pass-04", "victim": "Victim-pass5", "ci": "Ci-pass-0006"}  # fmt: skip
ROLES = {"zhangsan": "engineer", "requester1": "requester", "manager1": "manager", "gone": "engineer",
         "victim": "engineer", "ci": "engineer"}  # fmt: skip


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: Any


@dataclass
class Agent:
    port: int
    home: Path
    proc: subprocess.Popen[bytes]

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             form: dict[str, str] | None = None, raw: bytes | None = None) -> Response:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        data: bytes | None = raw
        if form is not None:
            data, sent["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
        elif body is not None:
            data, sent["Content-Type"] = json.dumps(body, ensure_ascii=False).encode(), "application/json"
        try:
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            text = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text.decode(errors="replace")
        return Response(resp.status, resp.headers, parsed)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "opsagent", *args], env=agent_env(self.home) | (env or {}),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def audit(self, *args: str) -> list[dict[str, Any]]:
        done = self.cli("audit", "-o", "json", "--limit", "1000", *args)
        assert done.returncode == 0, done.stderr
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows


@dataclass
class Session:
    agent: Agent
    cookie: str
    csrf: str
    name: str = "opsagent_session"
    raw_set_cookie: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def post(self, path: str, body: Any = None, csrf: bool = True, **headers: str) -> Response:
        sent = {"Cookie": f"{self.name}={self.cookie}", **headers}
        if csrf:
            sent["X-CSRF-Token"] = self.csrf
        return self.agent.call("POST", path, body if body is not None else {}, sent)

    def get(self, path: str) -> Response:
        return self.agent.call("GET", path, headers={"Cookie": f"{self.name}={self.cookie}"})


def login(agent: Agent, username: str, password: str | None = None) -> Session:
    resp = agent.call("POST", "/login", {"username": username, "password": password or PASSWORDS[username]})
    assert resp.status == 200, resp.body
    set_cookie = resp.headers["Set-Cookie"]
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    return Session(agent, jar["opsagent_session"].value, resp.body["csrf_token"], raw_set_cookie=set_cookie)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("users-e2e")
    (home / "inventory.yaml").write_text("assets: [{name: erp-db, kind: database}]\n")
    (home / "opsagent.yaml").write_text(
        "seed_inventory: [inventory.yaml]\n"
        "auth:\n"
        "  argon2: {time_cost: 1, memory_kib: 8192, parallelism: 1}\n"
        "  login_max_failures: 5\n"
        "  login_max_failures_per_address: 100000\n"  # every test request comes from 127.0.0.1
        "  login_backoff: 600s\n"
    )
    handle = Agent(0, home, None)  # type: ignore[arg-type]
    for name, password in PASSWORDS.items():
        done = handle.cli("user", "add", name, "--role", ROLES[name], "--display-name", "张三" if name == "zhangsan"
                          else name, "--password-ref", "env:NEW_PW", env={"NEW_PW": password})  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert handle.cli("user", "disable", "gone").returncode == 0
    with serving(home, {"OPSAGENT_API_TOKEN": TOKEN}) as (proc, port, log):
        handle.port, handle.proc = port, proc
        yield handle
    text = log.read_text(errors="replace")
    assert all(secret not in text for secret in (TOKEN, *PASSWORDS.values())), "a secret reached the log"


def _incident(agent: Agent, name: str) -> int:
    alert = {"status": "firing", "labels": {"alertname": name, "instance": "erp-db:1521", "severity": "critical"},
             "annotations": {"summary": name}, "startsAt": "2026-01-01T00:00:00Z"}  # fmt: skip
    payload = {"version": "4", "status": "firing", "receiver": "opsagent", "alerts": [alert]}
    resp = agent.call("POST", "/api/v1/alertmanager", payload, {"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200, resp.body
    rows = agent.call("GET", "/api/v1/incidents").body
    return int(next(r["id"] for r in rows if r["alertname"] == name))


def test_session_write_needs_its_csrf_token(agent: Agent) -> None:
    iid = _incident(agent, "CsrfCheck")
    session = login(agent, "zhangsan")
    assert "HttpOnly" in session.raw_set_cookie and "SameSite=Lax" in session.raw_set_cookie
    assert "Secure" not in session.raw_set_cookie  # plain HTTP here; test_serve_tls checks Secure
    refused = session.post(f"/api/v1/incidents/{iid}/ack", csrf=False)
    assert refused.status == 403 and "CSRF" in refused.body["error"]
    wrong = session.post(f"/api/v1/incidents/{iid}/ack", csrf=False, **{"X-CSRF-Token": "forged"})
    assert wrong.status == 403
    cross = session.post(f"/api/v1/incidents/{iid}/ack", Origin="http://evil.example")
    assert cross.status == 403 and "Origin" in cross.body["error"]
    assert agent.call("POST", f"/api/v1/incidents/{iid}/ack", {}).status == 401  # no session at all
    assert agent.call("POST", f"/api/v1/incidents/{iid}/ack", {}, {"Cookie": "opsagent_session=made-up",
                                                                   "X-CSRF-Token": "x"}).status == 401  # fmt: skip
    done = session.post(f"/api/v1/incidents/{iid}/ack", {"message": "on it"})
    assert done.status == 200, done.body
    assert [e["actor"] for e in done.body["events"] if e["kind"] == "acknowledged"] == ["zhangsan"]
    me = session.get("/api/v1/session").body
    assert me["name"] == "zhangsan" and me["role"] == "engineer" and me["csrf_token"] == session.csrf
    rows = [r for r in agent.audit("--action", "incident.ack") if r["target"] == f"incident#{iid}"]
    assert [(r["actor"], r["origin"]) for r in rows] == [("zhangsan", "http 127.0.0.1 (session)")]


def test_requester_session_cannot_ack(agent: Agent) -> None:
    iid = _incident(agent, "RequesterTries")
    session = login(agent, "requester1")
    resp = session.post(f"/api/v1/incidents/{iid}/ack")
    assert resp.status == 403 and "requester" in resp.body["error"]
    assert session.post("/-/reload").status == 403
    assert session.get("/api/v1/audit").status == 403
    assert agent.call("GET", f"/api/v1/incidents/{iid}").body["status"] == "open"


def test_disabled_user_cannot_log_in(agent: Agent) -> None:
    resp = agent.call("POST", "/login", {"username": "gone", "password": PASSWORDS["gone"]})
    assert resp.status == 401 and resp.body["error"] == "wrong username or password"
    assert "Set-Cookie" not in resp.headers
    rows = [r for r in agent.audit("--action", "login.failed") if r["target"] == "gone"]
    assert rows and rows[0]["detail"]["reason"] == "disabled" and rows[0]["origin"] == "http 127.0.0.1"


def test_sixth_wrong_password_is_throttled(agent: Agent) -> None:
    for _ in range(5):
        assert agent.call("POST", "/login", {"username": "victim", "password": "wrong-guess"}).status == 401
    resp = agent.call("POST", "/login", {"username": "victim", "password": PASSWORDS["victim"]})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0  # even the right password waits
    reasons = [r["detail"]["reason"] for r in agent.audit("--action", "login.failed") if r["target"] == "victim"]
    assert sorted(reasons) == ["password"] * 5 + ["throttled"]
    assert login(agent, "zhangsan").cookie  # another user is not locked out


def test_user_token_works_until_revoked(agent: Agent) -> None:
    iid = _incident(agent, "TokenUse")
    made = agent.cli("user", "token", "create", "ci", "--label", "pipeline", "-o", "json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    bearer = {"Authorization": f"Bearer {created['token']}"}
    resp = agent.call("POST", f"/api/v1/incidents/{iid}/ack", {}, bearer)  # no CSRF token for a bearer
    assert resp.status == 200, resp.body
    assert [e["actor"] for e in resp.body["events"] if e["kind"] == "acknowledged"] == ["ci"]
    assert agent.cli("user", "token", "revoke", str(created["id"])).returncode == 0
    assert agent.call("POST", f"/api/v1/incidents/{iid}/pending", {}, bearer).status == 401
    rows = [r for r in agent.audit("--actor", "ci") if r["target"] == f"incident#{iid}"]
    assert [(r["action"], r["origin"]) for r in rows] == [("incident.ack", "http 127.0.0.1 (user token)")]
    assert {r["action"] for r in agent.audit("--action", "token.")} >= {"token.create", "token.revoke"}


def test_form_login_logout_and_audit_api(agent: Agent) -> None:
    resp = agent.call("POST", "/login", form={"username": "manager1", "password": PASSWORDS["manager1"],
                                              "next": "//evil.example/x"})  # fmt: skip
    assert resp.status == 303 and resp.headers["Location"] == "/"  # never off-site
    jar: SimpleCookie = SimpleCookie()
    jar.load(resp.headers["Set-Cookie"])
    cookie = jar["opsagent_session"].value
    me = agent.call("GET", "/api/v1/session", headers={"Cookie": f"opsagent_session={cookie}"}).body
    session = Session(agent, cookie, me["csrf_token"])
    rows = session.get("/api/v1/audit?action=login&actor=manager1").body
    assert rows and rows[0]["origin"] == "http 127.0.0.1"
    assert session.post("/logout", csrf=False).status == 403
    assert session.post("/logout").status == 200
    assert session.get("/api/v1/session").status == 401  # the session is gone server-side
    assert [r["action"] for r in agent.audit("--actor", "manager1")][:2] == ["logout", "login"]


def test_cli_writes_are_audited_with_os_user_and_host(agent: Agent) -> None:
    iid = _incident(agent, "CliNote")
    done = agent.cli("incident", "note", str(iid), "-m", "looked at it")
    assert done.returncode == 0, done.stderr
    row = next(r for r in agent.audit("--action", "incident.note") if r["target"] == f"incident#{iid}")
    assert row["origin"].startswith("cli ") and "@" in row["origin"]
    webhook = agent.audit("--action", "alertmanager.receive")
    assert webhook and webhook[0]["actor"] == "api" and webhook[0]["origin"] == "http 127.0.0.1 (config token)"


_text = st.text(max_size=40)
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(["username", "password", "next", "csrf_token", "x"]),
                    st.one_of(_text, st.integers(), st.none(), st.lists(_text, max_size=2)), max_size=4),
    st.lists(_text, max_size=3),
    _text,
)  # fmt: skip


@seed(20261206)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, as_form=st.booleans(), raw=st.one_of(st.none(), st.binary(max_size=64)))
def test_login_body_fuzz_never_500(agent: Agent, body: Any, as_form: bool, raw: bytes | None) -> None:
    if raw is not None:
        resp = agent.call("POST", "/login", raw=raw, headers={"Content-Type": "application/json"})
    elif as_form and isinstance(body, dict):
        resp = agent.call("POST", "/login", form={k: str(v) for k, v in body.items()})
    else:
        resp = agent.call("POST", "/login", body)
    assert "Set-Cookie" not in resp.headers
    if resp.status == 303:  # a well-formed but wrong form login: back to the console's login page
        assert as_form and resp.headers["Location"].startswith("/console/login?failed=1")
        return
    assert resp.status in (400, 401, 429), (resp.status, resp.body)
    assert isinstance(resp.body, dict) and "error" in resp.body
