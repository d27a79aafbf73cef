"""Runbook API writes (start a run, approve/reject) need a bearer token, and what is recorded is
the token's identity: served over real HTTP on 127.0.0.1 by aiohttp's test server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from opsagent.app import App
from opsagent.auth.identity import Identity
from opsagent.auth.tokens import bearer, match, token_table
from opsagent.config import AgentConfig, load_config
from opsagent.runbooks.api import add_routes
from opsagent.runbooks.library import load_library
from opsagent.runbooks.triggers import RunbookService
from opsagent.store import runbook_repo as runs

HELLO = "name: hello\ntargets: all\nsteps:\n  - name: say\n    shell: echo hello\n"


@dataclass
class Api:
    app: App
    client: TestClient

    async def post(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.client.post(path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    def approval(self, approvers: list[str] | None = None) -> int:
        run_id = runs.create_run(
            self.app.store, runbook="hello", kind="task", actor="x", trigger="incident", parameters={},
            selector="all", check_mode=False, incident_id=None, retry_of=None,
        )  # fmt: skip
        return runs.request_approval(self.app.store, run_id, "h1", "confirm", "go?", approvers or [], "api")


def _config(tmp_path: Path, tokens: dict[str, str], shared: str | None) -> AgentConfig:
    content = tmp_path / "content"
    (content / "runbooks").mkdir(parents=True)
    (content / "runbooks" / "hello.yaml").write_text(HELLO)
    lines = [f"content_roots: ['{content}']"]
    if shared is not None:
        (tmp_path / "shared.token").write_text(shared + "\n")
        lines.append(f"api_token_ref: 'file:{tmp_path / 'shared.token'}'")
    else:
        lines.append("api_token_ref: 'env:OPSAGENT_TEST_NO_SUCH_TOKEN'")
    if tokens:
        lines.append("api_tokens:")
        for who, token in tokens.items():
            (tmp_path / f"{who}.token").write_text(token)
            lines.append(f"  {who}: 'file:{tmp_path / f'{who}.token'}'")
    (tmp_path / "opsagent.yaml").write_text("\n".join(lines) + "\n")
    return load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)})


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    config = _config(tmp_path, {"alice": "alice-token-1", "bob": "bob-token-2"}, "shared-token-0")
    app = App(config)
    app.seed_if_empty()
    web_app = web.Application()
    add_routes(web_app, RunbookService(app, load_library(config.roots)))
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Api(app, client)
    finally:
        await client.close()
        app.close()


async def test_approval_without_or_with_a_wrong_token_is_401(api: Api) -> None:
    approval = api.approval()
    status, body = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": True})
    assert status == 401 and body["error"] == "a valid bearer token is required"
    status, _ = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": True}, token="alice-token-")
    assert status == 401
    assert runs.get_approval(api.app.store, approval)["status"] == "pending"  # type: ignore[index]


async def test_approver_recorded_is_the_token_identity(api: Api) -> None:
    approval = api.approval()
    status, row = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": False, "comment": "not now"},
                                 token="bob-token-2")  # fmt: skip
    assert status == 200, row
    assert row["status"] == "rejected" and row["decided_by"] == "bob" and row["comment"] == "not now"


async def test_deciding_in_someone_elses_name_is_403(api: Api) -> None:
    approval = api.approval()
    status, body = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": True, "by": "alice"},
                                  token="bob-token-2")  # fmt: skip
    assert status == 403 and "acts as 'bob'" in body["error"]
    assert runs.get_approval(api.app.store, approval)["status"] == "pending"  # type: ignore[index]


async def test_identity_not_among_the_steps_approvers_is_403(api: Api) -> None:
    approval = api.approval(approvers=["alice"])
    status, body = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": True}, token="bob-token-2")
    assert status == 403 and "bob is not among the approvers" in body["error"]
    status, row = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": True}, token="alice-token-1")
    assert status == 200 and row["decided_by"] == "alice" and row["status"] == "approved"


async def test_shared_token_acts_as_api(api: Api) -> None:
    approval = api.approval()
    status, row = await api.post(f"/api/v1/runbooks/approvals/{approval}", {"approve": True}, token="shared-token-0")
    assert status == 200 and row["decided_by"] == "api"


async def test_start_run_needs_a_token_and_records_its_identity(api: Api) -> None:
    status, _ = await api.post("/api/v1/runbooks/hello/run", {})
    assert status == 401
    assert runs.list_runs(api.app.store, "hello") == []
    status, body = await api.post("/api/v1/runbooks/hello/run", {"actor": "mallory"}, token="alice-token-1")
    assert status == 403
    status, body = await api.post("/api/v1/runbooks/hello/run", {}, token="alice-token-1")
    assert status == 202, body
    for _ in range(200):
        run = runs.get_run(api.app.store, body["run"])
        if run is not None and run["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert run is not None and run["status"] == "succeeded" and run["actor"] == "alice"
    # Reads stay open (as the incident API's GETs).
    async with api.client.get(f"/api/v1/runbooks/runs/{body['run']}") as resp:
        assert resp.status == 200 and (await resp.json())["actor"] == "alice"


async def test_writes_are_refused_503_while_no_token_is_configured(tmp_path: Path) -> None:
    config = _config(tmp_path, {}, None)
    assert token_table(config) == []
    app = App(config)
    web_app = web.Application()
    add_routes(web_app, RunbookService(app, load_library(config.roots)))
    async with TestClient(TestServer(web_app, host="127.0.0.1")) as client:
        for headers in ({"Authorization": "Bearer anything"}, {}):
            async with client.post("/api/v1/runbooks/hello/run", json={}, headers=headers) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"] == "writes are disabled: no API token is configured"
    app.close()


def test_tokens_are_strict_about_the_scheme_and_empty_tokens(tmp_path: Path) -> None:
    config = _config(tmp_path, {"alice": "alice-token-1", "empty": ""}, None)
    table = token_table(config)
    assert [i.name for i, _ in table] == ["alice"]  # the empty token grants nothing
    alice = match(table, bearer("Bearer alice-token-1") or "")
    assert alice == Identity("alice", "token", "engineer")  # a named config token's default role
    assert bearer("bearer  alice-token-1 ") == "alice-token-1"
    assert bearer("Basic alice-token-1") is None
    assert bearer("Bearer ") is None
    assert bearer("alice-token-1") is None
    assert match(table, "alice-token-") is None and match(table, "alice-token-12") is None
