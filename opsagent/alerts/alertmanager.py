"""Alertmanager interop, both ways.

In: Alertmanager's webhook (payload version 4) is validated here and taken into the alert engine
(``AlertEngine.receive_alertmanager``), where its alerts meet the same silences, parent suppression,
incident dedup (the label fingerprint, so one problem seen by both gives one incident) and routes.
Out: opsagent's alerts are posted to Alertmanager's API v2 (``POST /api/v2/alerts``) as Prometheus
posts them: firing alerts re-sent periodically with ``endsAt`` ahead, resolved ones with ``endsAt`` now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from opsagent.alerts.notify.formats import NotifyAlert
from opsagent.alerts.notifyconfig import AlertmanagerTarget


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class PayloadError(ValueError):
    pass


def validate_payload(payload: Any) -> list[Mapping[str, Any]]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("alerts"), list):
        raise PayloadError("not an Alertmanager webhook payload: no 'alerts' list")
    alerts = []
    for alert in payload["alerts"]:
        if not isinstance(alert, Mapping) or not isinstance(alert.get("labels"), Mapping):
            raise PayloadError("every alert needs a 'labels' object")
        if alert.get("status") not in ("firing", "resolved"):
            raise PayloadError("alert status must be 'firing' or 'resolved'")
        alerts.append(alert)
    return alerts


def api_alert(alert: NotifyAlert, external_url: str, now: float, resend: float) -> dict[str, Any]:
    ends = alert.ends_at if alert.status == "resolved" and alert.ends_at else now + 4 * resend
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": _iso(alert.starts_at),
        "endsAt": _iso(ends),
        "generatorURL": f"{external_url}/incidents/{alert.incident_id}" if alert.incident_id else external_url,
    }


async def post_alerts(
    target: AlertmanagerTarget, alerts: list[NotifyAlert], external_url: str, now: float
) -> tuple[bool, str]:
    body = [api_alert(a, external_url, now, target.resend_interval) for a in alerts]
    url = target.url.rstrip("/") + "/api/v2/alerts"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=target.timeout)) as session,
            session.post(url, json=body) as resp,
        ):
            if 200 <= resp.status < 300:
                return True, ""
            return False, f"HTTP {resp.status}: {(await resp.text())[:200]}"
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return False, type(exc).__name__
