"""Escalation notices reach real receivers: a webhook (HTTP server) and an SMTP server; a dead
receiver is a failed result with a reason, not an exception."""

from __future__ import annotations

from typing import Any

from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.sla.escalation import Escalate
from opsagent.sla.notify import send_all
from opsagent.sla.service import Escalated
from tests.peers.ports import free_port


def _config(hook_url: str, smtp_port: int, dead_port: int) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "receivers": [
                {"name": "ops-hook", "webhook": {"url": hook_url, "timeout": "3s"}},
                {"name": "leads", "email": {"to": ["leads@example.test"], "from": "opsagent@example.test",
                                            "smarthost": f"127.0.0.1:{smtp_port}", "starttls": "never"}},
                {"name": "director", "webhook": {"url": f"http://127.0.0.1:{dead_port}/x", "timeout": "2s"}},
            ]
        }
    )  # fmt: skip


async def test_notices_go_to_named_receivers(webhook_server: Any, smtp_server: Any) -> None:
    webhook_server.clear()
    smtp_server.clear()
    steps = [
        Escalated(7, "ERP tablespace full", "P1", Escalate("resolution", 2, 100.0, ("team:leads", "channel:ops-hook"))),
        Escalated(
            7, "ERP tablespace full", "P1", Escalate("resolution", 3, 150.0, ("person:director", "person:nobody"))
        ),
    ]
    results = await send_all(steps, _config(webhook_server.url("/esc"), smtp_server.port, free_port()))
    assert [(name, ok) for name, ok, _ in results] == [("leads", True), ("ops-hook", True), ("director", False)]
    assert results[2][2]  # a reason for the failure
    posts = [body for path, body in webhook_server.received if path == "/esc"]
    assert len(posts) == 1
    labels = posts[0]["alerts"][0]["labels"]
    assert labels["incident"] == "7" and labels["sla_target"] == "resolution" and labels["escalation_level"] == "2"
    assert "ERP tablespace full" in posts[0]["alerts"][0]["annotations"]["summary"]
    assert len(smtp_server.messages) == 1
