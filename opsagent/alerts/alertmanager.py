"""Alertmanager interop, both ways.

In: Alertmanager's webhook (payload version 4) is validated here and taken into the alert engine
(``AlertEngine.receive_alertmanager``), where its alerts meet the same silences, parent suppression,
incident dedup (the label fingerprint, so one problem seen by both gives one incident) and routes.
Out: opsagent's alerts are posted to Alertmanager's API v2 (``POST /api/v2/alerts``) as Prometheus
posts them: firing alerts re-sent periodically with ``endsAt`` ahead, resolved ones with ``endsAt`` now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opsagent.alerts.notify.formats import NotifyAlert
from opsagent.alerts.notifyconfig import AlertmanagerTarget
from opsagent.httpd.body import describe, sane_time

MAX_ALERTS = 10_000  # per webhook post (Alertmanager's max_alerts is unlimited by default; groups are small)
MAX_LABELS = 256
STARTS_AHEAD = timedelta(days=1)  # clock skew between Alertmanager and opsagent
ENDS_AHEAD = timedelta(days=366)  # a firing alert's endsAt is its expected resolve time


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: Any, ahead: timedelta = ENDS_AHEAD) -> datetime | None:
    """An RFC 3339 time of a webhook; None for Go's zero time, an unparsable or an insane one."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    try:
        return sane_time(datetime.fromisoformat(text.replace("Z", "+00:00")), ahead)
    except ValueError:
        return None


class PayloadError(ValueError):
    pass


def _checked_time(value: str | None, ahead: timedelta) -> str | None:
    if value is None or value.startswith("0001-"):  # Go's zero time: not set
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not an RFC 3339 time") from None
    return sane_time(parsed, ahead).isoformat()


class WebhookAlert(BaseModel):
    """One alert of Alertmanager's webhook payload (version 4); other fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=MAX_LABELS)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=MAX_LABELS)
    startsAt: str | None = None
    endsAt: str | None = None

    @field_validator("startsAt")
    @classmethod
    def _starts(cls, value: str | None) -> str | None:
        return _checked_time(value, STARTS_AHEAD)

    @field_validator("endsAt")
    @classmethod
    def _ends(cls, value: str | None) -> str | None:
        return _checked_time(value, ENDS_AHEAD)


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS)

    def items(self) -> list[Mapping[str, Any]]:
        return [a.model_dump() for a in self.alerts]


def validate_payload(payload: Any) -> list[Mapping[str, Any]]:
    try:
        return WebhookPayload.model_validate(payload).items()
    except ValidationError as exc:
        raise PayloadError(f"not an Alertmanager webhook payload: {describe(exc)}") from None


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
