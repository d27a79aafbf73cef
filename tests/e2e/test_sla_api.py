"""The service-level JSON API of a real ``opsagent serve``: an Alertmanager webhook opens an incident,
reads are open, writes need a bearer token (the shared one of ``api_token_ref`` or a named one of
``api_tokens``), and the actor recorded is always the token's identity."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.agent import serving

TOKEN = "s3cret-api-token-for-tests"
ALICE, BOB = "alice-s3cret-token", "bob-s3cret-token"


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def printer_incident(api: Api, token: str, fingerprint: str, summary: str) -> int:
    """A PrintQueueStuck alert on fin-printer through the Alertmanager webhook; the incident's id."""
    labels = {"alertname": "PrintQueueStuck", "asset": "fin-printer", "severity": "warning", "fp": fingerprint}
    payload = {"version": "4", "status": "firing", "receiver": "opsagent", "alerts": [
        {"status": "firing", "labels": labels, "annotations": {"summary": summary},
         "startsAt": "2026-01-01T00:00:00Z", "fingerprint": fingerprint}]}  # fmt: skip
    status, body = api.call("POST", "/api/v1/alertmanager", payload, token=token)
    assert status == 200, body
    rows = api.call("GET", "/api/v1/incidents")[1]
    return int(next(r["id"] for r in rows if r["labels"].get("fp") == fingerprint))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("sla-api")
    (home / "inventory.yaml").write_text("assets: [{name: erp-db, kind: database}]\n")
    (home / "alice.token").write_text(ALICE + "\n")
    (home / "bob.token").write_text(BOB)
    (home / "opsagent.yaml").write_text(
        "seed_inventory: [inventory.yaml]\n"
        f"api_tokens: {{alice: 'file:{home / 'alice.token'}', bob: 'file:{home / 'bob.token'}'}}\n"
    )
    with serving(home, {"OPSAGENT_API_TOKEN": TOKEN}) as (_proc, port, log):
        yield Api(port)
    assert all(t not in log.read_text(errors="replace") for t in (TOKEN, ALICE, BOB))


def _open_incident(api: Api, labels: dict[str, str] | None = None, fingerprint: str = "abc123") -> int:
    labels = labels or {"alertname": "TablespaceFull", "instance": "erp-db:1521", "severity": "critical"}
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "opsagent",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": "ERP tablespace full"},
                "startsAt": "2026-01-01T00:00:00Z",
                "fingerprint": fingerprint,
            }
        ],
    }
    assert api.call("POST", "/api/v1/alertmanager", payload)[0] == 401  # the webhook needs a token
    assert api.call("POST", "/api/v1/alertmanager", payload, token="wrong")[0] == 401
    status, body = api.call("POST", "/api/v1/alertmanager", payload, token=TOKEN)
    assert status == 200, body
    status, rows = api.call("GET", "/api/v1/incidents")
    return int(next(r["id"] for r in rows if r["alertname"] == labels["alertname"]))


def test_get_ack_resolve_feedback_with_token(api: Api) -> None:
    iid = _open_incident(api)
    status, body = api.call("GET", f"/api/v1/incidents/{iid}")
    assert status == 200
    assert body["priority"] == "P1" and body["asset"] == "erp-db"
    assert body["clocks"]["response"]["state"] == "running"
    assert body["clocks"]["response"]["budget_seconds"] == 3600  # internal P1: 1 hour (the norms)

    assert api.call("POST", f"/api/v1/incidents/{iid}/ack", {"by": "mallory"})[0] == 401
    assert api.call("POST", f"/api/v1/incidents/{iid}/ack", {"by": "mallory"}, token="wrong")[0] == 401
    # the shared token acts as 'api': naming alice in the body is refused, as in the runbook API
    status, body = api.call("POST", f"/api/v1/incidents/{iid}/ack", {"by": "alice"}, token=TOKEN)
    assert status == 403 and body["error"] == "by: this token acts as 'api', not 'alice'"
    status, body = api.call("POST", f"/api/v1/incidents/{iid}/ack", {"by": "alice"}, token=ALICE)
    assert status == 200 and body["status"] == "acknowledged"
    assert [e["actor"] for e in body["events"] if e["kind"] == "acknowledged"] == ["alice"]
    assert body["clocks"]["response"]["met"] is True

    status, body = api.call("POST", f"/api/v1/incidents/{iid}/pending", {}, token=ALICE)
    assert status == 200 and body["clocks"]["resolution"]["state"] == "paused"
    status, body = api.call("POST", f"/api/v1/incidents/{iid}/resume", {"by": "alice"}, token=ALICE)
    assert status == 200 and body["clocks"]["resolution"]["state"] == "running"

    status, body = api.call(
        "POST", f"/api/v1/incidents/{iid}/resolve",
        {"cause": "archive logs", "resolution_steps": "purged, extended"}, token=TOKEN,
    )  # fmt: skip
    assert status == 200 and body["status"] == "resolved" and body["cause"] == "archive logs"
    assert [e["actor"] for e in body["events"] if e["kind"] == "resolved"] == ["api"]
    assert body["clocks"]["resolution"]["met"] is True

    status, tasks = api.call("GET", "/api/v1/followups")
    assert status == 200 and [t["id"] for t in tasks] == [iid]

    assert api.call("POST", f"/api/v1/incidents/{iid}/feedback", {"satisfaction": 9}, token=TOKEN)[0] == 409
    status, body = api.call(
        "POST", f"/api/v1/incidents/{iid}/feedback", {"by": "bob", "satisfaction": 4, "comment": "ok now"}, token=BOB
    )
    assert status == 200 and body["status"] == "closed"
    assert body["service"]["satisfaction"] == 4 and body["service"]["archived_at"] is not None
    assert api.call("GET", "/api/v1/followups")[1] == []
    # closed and archived: gone from the list unless asked for
    assert iid not in [r["id"] for r in api.call("GET", "/api/v1/incidents?status=all")[1]]
    status, rows = api.call("GET", "/api/v1/incidents?status=closed&archived=1")
    assert status == 200 and [r["id"] for r in rows] == [iid] and rows[0]["archived_at"]
    assert api.call("GET", "/api/v1/incidents?status=bogus")[0] == 400

    status, stats = api.call("GET", "/api/v1/reports/period?from=2000-01-01&to=2100-01-01")
    assert status == 200 and stats["total"] >= 1 and stats["satisfaction"]["average"] == 4.0


def test_errors_are_json_with_clear_status(api: Api) -> None:
    assert api.call("GET", "/api/v1/incidents/99999")[0] == 404
    assert api.call("POST", "/api/v1/incidents/99999/ack", {}, token=TOKEN)[0] == 404
    assert api.call("GET", "/api/v1/reports/period?from=2026-01-01")[0] == 400


def test_impact_and_urgency_from_alert_labels_set_the_priority(api: Api) -> None:
    """The alert engine opens the incident with the policy's impact × urgency matrix (low × high → P3),
    a missing one taken from the severity (warning → medium × medium → P3, info → P4)."""
    labels = {"alertname": "OrdersSlow", "instance": "erp-db:1521", "severity": "critical", "impact": "low",
              "urgency": "high"}  # fmt: skip
    iid = _open_incident(api, labels, "fp-impact")
    status, body = api.call("GET", f"/api/v1/incidents/{iid}")
    assert status == 200, body
    assert body["priority"] == "P3"  # the matrix, not the critical severity
    assert (body["service"]["impact"], body["service"]["urgency"]) == ("low", "high")
    assert body["clocks"]["resolution"]["budget_seconds"] == 5 * 8 * 3600  # P3: 5 working days
    iid = _open_incident(api, {"alertname": "BackupLate", "asset": "erp-db", "severity": "info"}, "fp-info")
    body = api.call("GET", f"/api/v1/incidents/{iid}")[1]
    assert body["priority"] == "P4" and (body["service"]["impact"], body["service"]["urgency"]) == ("low", "low")


def test_an_alert_older_than_its_receipt_opens_and_starts_its_clocks_at_receipt(api: Api) -> None:
    """One rule for opened_at (reports, MTTA) and the SLA clocks: receipt. startsAt is kept beside it."""
    labels = {"alertname": "StaleAlert", "instance": "erp-db:1521", "severity": "warning"}
    iid = _open_incident(api, labels, fingerprint="stale-1")
    status, body = api.call("GET", f"/api/v1/incidents/{iid}")
    assert status == 200
    opened = next(e for e in body["events"] if e["kind"] == "opened")
    assert body["opened_at"] == opened["at"]
    assert body["opened_at"] > "2026-12-01"  # not the alert's startsAt of 2026-01-01
    assert opened["detail"]["started_at"].startswith("2026-01-01T00:00:00")
    assert body["clocks"]["response"]["breached"] is False  # a clock from startsAt would be months late
