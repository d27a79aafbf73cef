"""Hostile bodies and ids against every route of a real ``opsagent serve``: the answer is a 4xx (or a
2xx for what is valid), never a 500. The known cases of issue 20 are pinned; hypothesis (seeded,
short) throws JSON of every shape, and bytes, at every body."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.agent import Agent, opsagent, start_agent

pytestmark = pytest.mark.peer

TOKEN = "fuzz-api-token"
NOOP = "name: fuzz-noop\ntargets: localhost\nsteps:\n  - name: nothing\n    shell: 'true'\n"
HUGE_ID = str(2**63)
WRITES = [
    "/api/v1/alertmanager",
    "/api/v1/incidents/1/ack",
    "/api/v1/incidents/1/resolve",
    "/api/v1/incidents/1/feedback",
    "/api/v1/incidents/1/signoff",
    "/api/v1/incidents/1/pending",
    "/api/v1/runbooks/fuzz-noop/run",
    "/api/v1/runbooks/approvals/1",
]
FIELDS = ["alerts", "labels", "annotations", "status", "startsAt", "endsAt", "by", "message", "cause",
          "satisfaction", "signed_by", "approve", "comment", "params", "limit", "check", "actor"]  # fmt: skip


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    home = tmp_path_factory.mktemp("fuzz")
    (home / "content" / "runbooks").mkdir(parents=True)
    (home / "content" / "runbooks" / "noop.yaml").write_text(NOOP)
    (home / "api.token").write_text(TOKEN)
    (home / "opsagent.yaml").write_text(f"content_roots: [content]\napi_token_ref: 'file:{home / 'api.token'}'\n")
    agent = start_agent(home)
    yield agent
    agent.stop()
    assert "Traceback" not in agent.log.read_text(errors="replace")


def call(agent: Agent, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode(errors="replace")


def alert(**over: Any) -> dict[str, Any]:
    base = {"status": "firing", "labels": {"alertname": "Fuzz", "asset": "x"}, "annotations": {"summary": "s"}}
    return {"version": "4", "alerts": [base | over]}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/alertmanager", alert(annotations="a string")),
        ("/api/v1/alertmanager", alert(annotations=["a", "list"])),
        ("/api/v1/alertmanager", alert(labels={"alertname": 5})),
        ("/api/v1/alertmanager", alert(startsAt="9999-12-31T23:59:59Z")),
        ("/api/v1/alertmanager", alert(endsAt="0000-01-01T00:00:00Z")),
        ("/api/v1/alertmanager", {"alerts": "x"}),
        ("/api/v1/runbooks/fuzz-noop/run", {"params": ["a", "b"]}),
        ("/api/v1/runbooks/fuzz-noop/run", {"limit": 5}),
        ("/api/v1/runbooks/approvals/1", {"approve": "yes"}),
        ("/api/v1/incidents/1/feedback", {"satisfaction": "4"}),
        ("/api/v1/incidents/1/feedback", {"satisfaction": 10**40}),
    ],
)
def test_known_bad_bodies_are_400(agent: Agent, path: str, body: Any) -> None:
    status, answer = call(agent, "POST", path, json.dumps(body).encode())
    assert status == 400, answer
    assert isinstance(answer, dict) and answer["error"]


@pytest.mark.parametrize("path", WRITES)
def test_a_body_nested_100000_deep_is_400(agent: Agent, path: str) -> None:
    deep = b'{"alerts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = call(agent, "POST", path, deep)
    assert status in (400, 404), answer  # 404: no incident #1 / approval #1, checked before the body
    status, answer = call(agent, "POST", path, b"{" * 100_000)
    assert status in (400, 404), answer


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/incidents/{HUGE_ID}"),
        ("POST", f"/api/v1/incidents/{HUGE_ID}/ack"),
        ("GET", f"/api/v1/runbooks/runs/{HUGE_ID}"),
        ("POST", f"/api/v1/runbooks/approvals/{HUGE_ID}"),
        ("GET", "/api/v1/incidents/" + "9" * 5000),
        ("GET", "/api/v1/runbooks/runs/0"),
    ],
)
def test_ids_beyond_the_store_are_404(agent: Agent, method: str, path: str) -> None:
    status, answer = call(agent, method, path, b'{"approve": true}' if method == "POST" else None)
    assert status == 404, answer


def test_report_works_after_webhooks_with_odd_times(agent: Agent) -> None:
    status, opened = call(agent, "POST", "/api/v1/alertmanager", json.dumps(alert(
        labels={"alertname": "OddTime", "asset": "x"}, startsAt="1970-01-01T00:00:01Z",
        endsAt="2026-01-01T00:00:00.123456789Z")).encode())  # fmt: skip
    assert status == 200 and opened["opened"], opened
    report = opsagent("report", "incident", str(opened["opened"][0]), home=agent.home)
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr


KEYS = st.sampled_from(FIELDS) | st.text(max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=20,
)
BODIES = JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(WRITES), body=BODIES)
def test_no_body_gives_a_500(agent: Agent, path: str, body: bytes) -> None:
    status, answer = call(agent, "POST", path, body)
    assert status < 500, (path, body[:200], answer)


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    segment=st.integers(min_value=-(2**70), max_value=2**70).map(str) | st.text(min_size=1, max_size=30),
    route=st.sampled_from(["/api/v1/incidents/{}", "/api/v1/runbooks/runs/{}", "/api/v1/assets/{}"]),
)
def test_no_path_gives_a_500(agent: Agent, segment: str, route: str) -> None:
    from urllib.parse import quote

    status, answer = call(agent, "GET", route.format(quote(segment, safe="")))
    assert status < 500, (segment, answer)


def test_reads_with_query_values_beyond_range(agent: Agent, tmp_path: Path) -> None:
    for path in ("/api/v1/reports/period?from=0001-01-01&to=9999-12-31", "/api/v1/incidents?limit=" + "9" * 5000,
                 "/api/v1/reports/period?from=9999-12-31T23:59:59&to=9999-12-31T23:59:59"):  # fmt: skip
        status, answer = call(agent, "GET", path)
        assert status < 500, (path, answer)


def test_a_body_over_the_cap_is_413(agent: Agent) -> None:
    status, answer = call(agent, "POST", "/api/v1/alertmanager", b'{"alerts": ["' + b"x" * 5_000_000 + b'"]}')
    assert status == 413 and answer["error"] == "the request body is too large", answer
