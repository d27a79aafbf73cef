"""The desk's periodic jobs inside a real ``opsagent serve``: the retention purge (desk.retention_months)
and the contract expiry warning (desk.expiry_warnings) run on their own, each once, and are audited /
delivered to a real webhook receiver."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from opsagent.store import schema
from opsagent.store.engine import Store, now
from opsagent.store.urls import sqlite_url
from tests.e2e.agent import opsagent, serving, wait_until
from tests.peers.receivers import WebhookServer

pytestmark = pytest.mark.peer


def test_serve_purges_old_tickets_and_warns_of_an_ending_contract(
    tmp_path: Path, webhook_server: WebhookServer
) -> None:
    home = tmp_path
    ends = date.today() + timedelta(days=10)
    (home / "content" / "desk").mkdir(parents=True)
    (home / "content" / "alerts").mkdir()
    (home / "content" / "desk" / "contracts.yaml").write_text(
        f"contracts:\n  ACME-SLA:\n    organisation: ACME 有限公司\n    valid_from: 2020-01-01\n"
        f"    valid_until: {ends}\n    targets: {{response: 30m, resolution: 2wd}}\n",
        encoding="utf-8",
    )
    (home / "content" / "alerts" / "notifications.yaml").write_text(
        f"receivers:\n  - name: sales\n    webhook: {{url: '{webhook_server.url('/desk-jobs')}'}}\n", encoding="utf-8"
    )
    (home / "opsagent.yaml").write_text(
        "content_roots: [content]\nseed_inventory: []\nlanguage: en\n"
        "desk: {retention_months: 6, expiry_warnings: [30, 7], expiry_receivers: [sales]}\n",
        encoding="utf-8",
    )
    logged = opsagent("desk", "log", "-t", "printer, call 13812341234", "-c", "hardware", "--name", "Ann",
                      "--phone", "13812341234", "-o", "json", home=home)  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    ticket = json.loads(logged.stdout)["id"]
    opsagent("incident", "close", str(ticket), home=home, check=True)
    store = Store(sqlite_url(home / "opsagent.db"))
    try:
        with store.transaction() as conn:  # closed a year ago
            conn.execute(update(schema.incidents).where(schema.incidents.c.id == ticket)
                         .values(closed_at=now() - timedelta(days=365)))  # fmt: skip
        webhook_server.clear()
        with serving(home) as (proc, _port, log):

            def purged() -> bool:
                with store.engine.connect() as conn:
                    rows = conn.execute(select(schema.audit.c.detail).where(schema.audit.c.action == "desk.purge"))
                    return any(r.detail["tickets"] == 1 for r in rows)

            wait_until(purged, 60, "the retention purge", log, proc)
            hooks = wait_until(lambda: [b for p, b in webhook_server.received if p == "/desk-jobs"], 60,
                               "the expiry warning", log, proc)  # fmt: skip
        with store.engine.connect() as conn:
            title = conn.execute(select(schema.incidents.c.title).where(schema.incidents.c.id == ticket)).scalar()
    finally:
        store.close()
    assert title == "printer, call 138****1234"
    alert = hooks[0]["alerts"][0]
    assert alert["labels"]["alertname"] == "ContractExpiring" and alert["labels"]["threshold_days"] == "30"
    assert f"ends on {ends}" in alert["annotations"]["summary"] and len(hooks) == 1
