"""Sending a group to one receiver, with a timeout; failures are values (ok, error), never raised.

Secrets (robot URLs, signing secrets, SMTP passwords) are resolved at send time and never appear in
an error message: errors name the receiver and the failure class only.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
import urllib.parse
from email.message import EmailMessage
from typing import Any

import aiohttp

from opsagent.alerts.notify import formats
from opsagent.alerts.notify.formats import PLAIN, Group, Style
from opsagent.alerts.notifyconfig import EmailConfig, Receiver, RobotConfig, WebhookConfig
from opsagent.errors import SecretError

Outcome = tuple[bool, str]


async def _post_json(url: str, payload: Any, timeout: float) -> tuple[int, Any]:
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.post(url, json=payload, headers={"User-Agent": "opsagent"}) as resp,
    ):
        text = await resp.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text[:200]
        return resp.status, body


async def send_webhook(cfg: WebhookConfig, group: Group, external_url: str) -> Outcome:
    url = cfg.url if cfg.url is not None else cfg.url_ref.resolve().reveal()  # type: ignore[union-attr]
    status, _ = await _post_json(url, formats.webhook_payload(group, external_url), cfg.timeout)
    return (200 <= status < 300), ("" if 200 <= status < 300 else f"HTTP {status}")


def _with_query(url: str, **params: str) -> str:
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + sep + urllib.parse.urlencode(params)


async def send_robot(kind: str, cfg: RobotConfig, group: Group, style: Style = PLAIN) -> Outcome:
    url = cfg.url_ref.resolve().reveal()
    secret = cfg.secret_ref.resolve().reveal() if cfg.secret_ref is not None else None
    if kind == "dingtalk":
        payload = formats.dingtalk_message(group, cfg.mentions, style)
        if secret:
            ts = int(time.time() * 1000)
            url = _with_query(url, timestamp=str(ts), sign=formats.dingtalk_sign(secret, ts))
    elif kind == "wecom":
        payload = formats.wecom_message(group, cfg.mentions, style)
    else:
        payload = formats.feishu_message(group, int(time.time()) if secret else None, secret, style)
    status, body = await _post_json(url, payload, cfg.timeout)
    if not 200 <= status < 300:
        return False, f"HTTP {status}"
    return formats.robot_ok(kind, body)


def _send_email_sync(cfg: EmailConfig, group: Group, style: Style = PLAIN) -> Outcome:
    msg = EmailMessage()
    msg["Subject"] = formats.title(group, style)
    msg["From"] = cfg.from_
    msg["To"] = ", ".join(cfg.to)
    msg.set_content(formats.text_body(group, style=style))
    return smtp_deliver(cfg, msg)


def smtp_deliver(cfg: EmailConfig, msg: EmailMessage) -> Outcome:
    """Hand ``msg`` (its own To) to the receiver's smarthost; raises on connection/protocol errors."""
    host, _, port = cfg.smarthost.rpartition(":")
    with smtplib.SMTP(host, int(port), timeout=cfg.timeout) as smtp:
        smtp.ehlo()
        if cfg.starttls == "always" or (cfg.starttls == "auto" and smtp.has_extn("starttls")):
            smtp.starttls()
            smtp.ehlo()
        if cfg.username and cfg.password_ref is not None:
            smtp.login(cfg.username, cfg.password_ref.resolve().reveal())
        refused = smtp.send_message(msg)
    if refused:
        return False, f"refused recipients: {', '.join(sorted(refused))}"
    return True, ""


async def send(receiver: Receiver, group: Group, external_url: str, style: Style = PLAIN) -> Outcome:
    """Send ``group`` to ``receiver``; (ok, error). Never raises."""
    kind = receiver.kind
    try:
        if kind == "webhook":
            assert receiver.webhook is not None
            return await send_webhook(receiver.webhook, group, external_url)
        if kind == "email":
            assert receiver.email is not None
            email = receiver.email
            return await asyncio.wait_for(asyncio.to_thread(_send_email_sync, email, group, style), email.timeout + 5)
        robot = getattr(receiver, kind)
        return await send_robot(kind, robot, group, style)
    except SecretError as exc:
        return False, f"credential: {exc}"
    except TimeoutError:
        return False, "timeout"
    except (aiohttp.ClientError, OSError, smtplib.SMTPException) as exc:
        return False, f"{type(exc).__name__}"
