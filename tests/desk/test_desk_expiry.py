"""Warnings before a contract's validity or an asset's warranty/maintenance period ends: once per
contract/asset, end date and threshold (not every tick), to a real SMTP receiver and a real webhook
receiver, through the agent's own job; ``opsagent desk contracts --expiring`` lists them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from opsagent.app import App
from opsagent.config import load_config
from opsagent.desk.expiry import expiring, run_warnings, threshold_for
from opsagent.sla.policy import load_policy
from opsagent.store import schema
from tests.desk.helpers import REPO, content_root
from tests.peers.receivers import SmtpServer, WebhookServer

CST = ZoneInfo("Asia/Shanghai")
INVENTORY = """\
all:
  children:
    acme:
      hosts:
        sw1: {kind: network, address: 192.0.2.1}
        sw2: {kind: network, address: 192.0.2.2}
"""


def _contracts(until: date, warranty_until: date) -> str:
    return f"""\
contracts:
  ACME-2026:
    organisation: ACME 有限公司
    valid_from: 2026-01-01
    valid_until: {until}
    targets: {{response: 30m, resolution: 2wd}}
    warranty:
      - {{assets: "group=acme", kind: warranty, until: {warranty_until}}}
      - {{assets: "group=acme", kind: maintenance, until: 2027-06-30}}
"""


def test_thresholds_and_what_ends_soon(tmp_path: Path) -> None:
    root = content_root(tmp_path / "content")
    (root / "desk" / "contracts.yaml").write_text(_contracts(date(2026, 12, 21), date(2026, 12, 6)), encoding="utf-8")
    contracts = load_policy([root]).contracts
    assert threshold_for(40, [30, 7]) is None and threshold_for(30, [30, 7]) == 30 and threshold_for(5, [30, 7]) == 7
    items = expiring(contracts, lambda s: ["sw2", "sw1"] if s == "group=acme" else [], date(2026, 12, 1), 30)
    assert [(i.kind, i.subject, i.days_left) for i in items] == [
        ("warranty", "ACME-2026/sw1", 5), ("warranty", "ACME-2026/sw2", 5), ("contract", "ACME-2026", 20),
    ]  # fmt: skip
    assert expiring(contracts, None, date(2026, 12, 22), 30) == []  # ended: not warned any more


@pytest.fixture
def agent(tmp_path: Path, smtp_server: SmtpServer, webhook_server: WebhookServer) -> tuple[App, Path]:
    root = content_root(tmp_path / "content")
    (root / "alerts" / "notifications.yaml").write_text(f"""\
receivers:
  - name: sales-mail
    email: {{to: [sales@corp.example], from: opsagent@corp.example, smarthost: "127.0.0.1:{smtp_server.port}",
             starttls: never}}
  - name: ops-hook
    webhook: {{url: "{webhook_server.url('/expiry')}"}}
  - name: not-this-one
    webhook: {{url: "{webhook_server.url('/other')}"}}
""", encoding="utf-8")  # fmt: skip
    (root / "desk" / "contracts.yaml").write_text(_contracts(date(2026, 12, 21), date(2026, 12, 6)), encoding="utf-8")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    (home / "opsagent.yaml").write_text(
        f"content_roots: [{root}]\nseed_inventory: [{inventory}]\nlanguage: zh\ntimezone: Asia/Shanghai\n"
        "desk: {expiry_warnings: [30, 7], expiry_receivers: [sales-mail, ops-hook]}\n",
        encoding="utf-8",
    )
    return App(load_config(environ={"OPSAGENT_HOME": str(home)})), home


def test_each_warning_goes_out_once_per_threshold(
    agent: tuple[App, Path], smtp_server: SmtpServer, webhook_server: WebhookServer
) -> None:
    app, home = agent
    smtp_server.clear()
    webhook_server.clear()
    try:
        app.seed_if_empty()  # sw1, sw2 in group acme
        day = datetime(2026, 12, 1, 9, tzinfo=CST).astimezone(UTC)
        first = asyncio.run(run_warnings(app, day))
        assert sorted((i.subject, t) for i, t in first) == [
            ("ACME-2026", 30), ("ACME-2026/sw1", 7), ("ACME-2026/sw2", 7),
        ]  # fmt: skip
        assert len(smtp_server.messages) == 1
        body = smtp_server.messages[0].get_payload(decode=True).decode()
        assert "服务协议 ACME-2026（ACME 有限公司）将于 2026-12-21 到期，还剩 20 天" in body
        assert "sw1 的保修期" in body and "sw2 的保修期" in body
        hooks = [b for p, b in webhook_server.received if p == "/expiry"]
        assert len(hooks) == 1 and {a["labels"]["alertname"] for a in hooks[0]["alerts"]} == {
            "ContractExpiring", "WarrantyExpiring"}  # fmt: skip
        assert not [b for p, b in webhook_server.received if p == "/other"]

        for later in (day + timedelta(hours=1), day + timedelta(days=1)):  # later ticks of the job: nothing again
            assert asyncio.run(run_warnings(app, later)) == []
        assert len(smtp_server.messages) == 1
        week = day + timedelta(days=14)  # 6 days left: the 7-day warning of the contract
        assert [(i.subject, t) for i, t in asyncio.run(run_warnings(app, week))] == [("ACME-2026", 7)]
        assert asyncio.run(run_warnings(app, week + timedelta(days=1))) == []
        assert len(smtp_server.messages) == 2
        with app.store.engine.connect() as conn:
            rows = conn.execute(select(schema.desk_expiry_notices)).all()
        assert len(rows) == 4
    finally:
        app.close()

    env = {**os.environ, "OPSAGENT_HOME": str(home), "PYTHONPATH": str(REPO)}
    listed = subprocess.run([sys.executable, "-m", "opsagent", "desk", "contracts", "--expiring", "--days", "3650",
                             "-o", "json"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert {(i["kind"], i["asset"]) for i in found} >= {("maintenance", "sw1"), ("maintenance", "sw2")}
    table = subprocess.run([sys.executable, "-m", "opsagent", "desk", "contracts", "--expiring", "--days", "3650"],
                           env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert table.returncode == 0 and "维保期" in table.stdout and "3650 天内到期" in table.stdout
