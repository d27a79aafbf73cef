"""Trap router logic without a network: which active alerts a clearing trap or resolve_after ends."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsagent.alerts.state import FIRING, AlertState, fingerprint
from opsagent.traps.route import TrapRouter, _clearable
from opsagent.traps.rules import load_trap_rules

ROOT = Path(__file__).resolve().parents[2]


def _alert(labels: dict[str, str], last_seen: float) -> AlertState:
    return AlertState("@alertmanager", fingerprint(labels), labels, {}, 0.0, FIRING, last_seen, last_seen, last_seen)


def test_clearing_matches_same_asset_and_index_only() -> None:
    down7 = _alert({"alertname": "SnmpLinkDown", "asset": "sw1", "ifIndex": "7", "severity": "warning"}, 0)
    down8 = _alert({"alertname": "SnmpLinkDown", "asset": "sw1", "ifIndex": "8", "severity": "warning"}, 0)
    other = _alert({"alertname": "SnmpLinkDown", "asset": "sw2", "ifIndex": "7", "severity": "warning"}, 0)
    active = {a.fingerprint: a for a in (down7, down8, other)}
    found = _clearable(active, {"alertname": "SnmpLinkDown", "asset": "sw1", "ifIndex": "7"})
    assert list(found) == [down7.fingerprint]


def test_sweep_resolves_only_expired_rules_with_resolve_after() -> None:
    restarted = _alert({"alertname": "SnmpDeviceRestarted", "asset": "sw1", "severity": "warning"}, 1000.0)
    fresh = _alert({"alertname": "SnmpDeviceRestarted", "asset": "sw2", "severity": "warning"}, 4000.0)
    link = _alert({"alertname": "SnmpLinkDown", "asset": "sw1", "ifIndex": "1"}, 0.0)  # no resolve_after
    external = {a.fingerprint: a for a in (restarted, fresh, link)}
    delivered: list[tuple[list[Mapping[str, Any]], str]] = []

    async def deliver(alerts: list[Mapping[str, Any]], source: str) -> None:
        delivered.append((alerts, source))

    async def run() -> int:
        router = TrapRouter(None, load_trap_rules([ROOT]), dict, deliver, lambda: external)  # type: ignore[arg-type]
        return await router.sweep(1000.0 + 3600.0)

    assert asyncio.run(run()) == 1
    [(alerts, source)] = delivered
    assert source == "snmp_trap" and alerts[0]["status"] == "resolved"
    assert alerts[0]["labels"]["asset"] == "sw1" and alerts[0]["labels"]["alertname"] == "SnmpDeviceRestarted"
