"""`opsagent serve` runs an emergency runbook when an incident opens (after approval through the
API) and records the run on the incident's timeline; the runbook API shows runs and approvals."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent import Agent, opsagent, start_agent, wait_until
from tests.peer.rbhelpers import ssh_asset
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer

FIX_IT = """\
name: fix-it
kind: emergency
targets: linux
approval: required
parameters:
  mount: {type: str, default: /}
steps:
  - name: look
    ssh: "df -P {{ mount }} | tail -1; echo alert={{ incident.labels.alertname }}"
    register: look
  - name: confirm
    approve: "go ahead on {{ asset.name }}?"
  - name: act
    ssh: "echo acted on {{ mount }}"
  - name: tell the incident
    incident: {action: note, message: "fix-it done on {{ asset.name }}: {{ look.stdout_lines[-1] }}"}
"""


def _post(agent: Agent, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(agent.url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(agent: Agent, path: str) -> Any:
    status, _ctype, body = agent.get(path)
    assert status == 200, body
    return json.loads(body)


def test_incident_runs_emergency_runbook_after_api_approval(sshd_server: SshServer, tmp_path: Path) -> None:
    home, content = tmp_path / "home", tmp_path / "content"
    (content / "runbooks" / "emergency").mkdir(parents=True)
    (content / "runbooks" / "emergency" / "fix-it.yaml").write_text(FIX_IT)
    home.mkdir()
    for who in ("alice", "bob"):  # each approver holds a token of their own
        (tmp_path / f"{who}.token").write_text(f"{who}-e2e-token\n")
    (home / "opsagent.yaml").write_text(
        f"content_roots: ['{content}']\napi_tokens:\n"
        f"  alice: 'file:{tmp_path / 'alice.token'}'\n  bob: 'file:{tmp_path / 'bob.token'}'\n"
    )
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("assets:\n" + ssh_asset(sshd_server, "db1"))
    assert opsagent("inventory", "import", str(inventory), home=home).returncode == 0
    agent = start_agent(home)
    try:
        assert any(r["name"] == "fix-it" for r in _get(agent, "/api/v1/runbooks"))
        alert = {
            "status": "firing",
            "labels": {"alertname": "DiskAlmostFull", "asset": "db1", "severity": "critical"},
            "annotations": {
                "summary": "disk almost full",
                "opsagent_runbook": "runbooks/emergency/fix-it.yaml",
                "opsagent_runbook_params": "mount=/tmp",
            },
        }
        payload = {"version": "4", "status": "firing", "alerts": [alert]}
        assert _post(agent, "/api/v1/alertmanager", payload)[0] == 401  # the webhook needs a token too
        status, opened = _post(agent, "/api/v1/alertmanager", payload, "alice-e2e-token")
        assert status == 200 and opened["opened"], opened
        incident_id = opened["opened"][0]
        # the whole run waits for a person (approval: required), then its approve step does too
        first = wait_until(lambda: _get(agent, "/api/v1/runbooks/approvals"), 30, "run approval", agent.log)
        assert first[0]["step"] == "start run"
        status, _ = _post(agent, f"/api/v1/runbooks/approvals/{first[0]['id']}", {"approve": True, "by": "alice"})
        assert status == 401  # a name in the body is no identity: the token is
        path = f"/api/v1/runbooks/approvals/{first[0]['id']}"
        status, decided = _post(agent, path, {"approve": True}, "alice-e2e-token")
        assert status == 200 and decided["status"] == "approved" and decided["decided_by"] == "alice"
        second = wait_until(
            lambda: [a for a in _get(agent, "/api/v1/runbooks/approvals") if a["step"] == "confirm"],
            30,
            "step approval",
        )
        assert second[0]["asset"] == "db1" and second[0]["message"] == "go ahead on db1?"
        path = f"/api/v1/runbooks/approvals/{second[0]['id']}"
        _post(agent, path, {"approve": True, "comment": "ok"}, "bob-e2e-token")
        run = wait_until(
            lambda: [r for r in _get(agent, "/api/v1/runbooks/runs") if r["status"] != "running"], 60, "run end"
        )[0]
        assert run["status"] == "succeeded" and run["trigger"] == "incident" and run["incident_id"] == incident_id
        detail = _get(agent, f"/api/v1/runbooks/runs/{run['id']}")
        steps = {s["path"]: s for s in detail["steps"]}
        assert "alert=DiskAlmostFull" in steps["look"]["stdout"] and "/tmp" in steps["act"]["stdout"]
        assert [(a["step"], a["decided_by"]) for a in detail["approvals"]] == [
            ("start run", "alice"),
            ("confirm", "bob"),
        ]

        def timeline() -> list[dict[str, Any]] | None:
            result = opsagent("incident", "show", str(incident_id), "-o", "json", home=home)
            events = json.loads(result.stdout)["events"]
            return events if any("succeeded" in e["message"] for e in events) else None

        events = wait_until(timeline, 30, "run outcome on the incident timeline")
        messages = [e["message"] for e in events]
        assert any("run #" in m and "started" in m for m in messages)
        assert any("waits for approval" in m for m in messages)
        assert any(m.startswith("fix-it done on db1: alert=DiskAlmostFull") for m in messages)
        # the same incident is never triggered twice (checked again by the watcher every 2 s)
        assert len([r for r in _get(agent, "/api/v1/runbooks/runs") if r["runbook"] == "fix-it"]) == 1
    finally:
        agent.stop()
