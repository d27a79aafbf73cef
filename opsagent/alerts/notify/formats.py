"""Message bodies per receiver kind, as pure functions of a notification group.

The generic webhook sends Alertmanager's webhook payload (version 4) so existing receivers work;
DingTalk, WeCom (企业微信) and Feishu/Lark robots get markdown/text in their own message formats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from opsagent.i18n import show_time


@dataclass(frozen=True)
class Style:
    """The reader's language and zone for messages people read (robots, email); the webhook payload
    stays Alertmanager's machine format (UTC ISO times)."""

    lang: str = "en"
    zone: tzinfo = UTC


PLAIN = Style()  # English, UTC: the default for callers that know no reader

_WORDS = {
    "firing": {"en": "Firing", "zh": "告警中"},
    "resolved": {"en": "Resolved", "zh": "已恢复"},
    "since": {"en": " since ", "zh": "，开始于 "},
    "at": {"en": " at ", "zh": "，恢复于 "},
    "incident": {"en": "incident #", "zh": "问题 #"},
    "runbook": {"en": "runbook: ", "zh": "处置预案："},
    "tag_firing": {"en": "FIRING", "zh": "告警"},
    "tag_resolved": {"en": "RESOLVED", "zh": "已恢复"},
    "and_resolved": {"en": ", {n} resolved", "zh": "，已恢复 {n}"},
    "knowledge": {"en": "suggested knowledge: ", "zh": "推荐知识："},
}


def _w(key: str, style: Style) -> str:
    return _WORDS[key].get(style.lang, _WORDS[key]["en"])


def _when(t: float | None, style: Style) -> str:
    return show_time(datetime.fromtimestamp(t, UTC), style.zone) if t is not None else ""


@dataclass
class NotifyAlert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: str  # firing | resolved
    starts_at: float
    ends_at: float | None = None
    incident_id: int | None = None
    value: float | None = None
    # the knowledge base's articles suggested to the incident: {id, title, url} (see opsagent.knowledge.notice)
    knowledge: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Group:
    receiver: str
    key: str
    group_labels: dict[str, str]
    firing: list[NotifyAlert] = field(default_factory=list)
    resolved: list[NotifyAlert] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"

    @property
    def alerts(self) -> list[NotifyAlert]:
        return self.firing + self.resolved


def _iso(t: float | None) -> str:
    if t is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook_payload(group: Group, external_url: str) -> dict[str, Any]:
    alerts = group.alerts
    return {
        "version": "4",
        "groupKey": group.key,
        "truncatedAlerts": 0,
        "status": group.status,
        "receiver": group.receiver,
        "groupLabels": group.group_labels,
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": external_url,
        "alerts": [
            {
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": _iso(a.starts_at),
                "endsAt": _iso(a.ends_at),
                "generatorURL": f"{external_url}/incidents/{a.incident_id}" if a.incident_id else external_url,
                "fingerprint": a.fingerprint,
                "incidentId": a.incident_id,
                "knowledge": a.knowledge,
            }
            for a in alerts
        ],
    }


def title(group: Group, style: Style = PLAIN) -> str:
    name = group.group_labels.get("alertname") or _common([a.labels for a in group.alerts]).get("alertname", "alerts")
    if group.firing:
        extra = _w("and_resolved", style).format(n=len(group.resolved)) if group.resolved else ""
        return f"[{_w('tag_firing', style)}:{len(group.firing)}{extra}] {name}"
    return f"[{_w('tag_resolved', style)}:{len(group.resolved)}] {name}"


def _line(a: NotifyAlert, style: Style) -> str:
    summary = a.annotations.get("summary") or a.labels.get("alertname", "")
    where = a.labels.get("asset") or a.labels.get("instance", "")
    parts = [f"{summary}"]
    if where and where not in summary:
        parts.append(f"({where})")
    if a.labels.get("severity"):
        parts.append(f"[{a.labels['severity']}]")
    if a.incident_id:
        parts.append(f"{_w('incident', style)}{a.incident_id}")
    return " ".join(parts)


_MD_LINK_TEXT = str.maketrans({"[": "(", "]": ")", "\n": " "})


def _knowledge(a: NotifyAlert, markdown: bool, style: Style) -> list[str]:
    """The suggested articles under their alert: title and link (the link counts the suggestion used)."""
    lines = []
    for k in a.knowledge:
        label = f"KB #{k['id']} {k['title']}"
        if markdown:
            lines.append(f"  {_w('knowledge', style)}[{label.translate(_MD_LINK_TEXT)}]({k['url']})")
        else:
            lines.append(f"  {_w('knowledge', style)}{label} {k['url']}")
    return lines


def text_body(group: Group, markdown: bool = False, style: Style = PLAIN) -> str:
    bullet = "- " if markdown else "* "
    lines = [f"### {title(group, style)}" if markdown else title(group, style), ""]
    if group.firing:
        head = _w("firing", style)
        lines.append(f"**{head}**" if markdown else f"{head}:")
        for a in group.firing:
            lines.append(bullet + _line(a, style) + _w("since", style) + _when(a.starts_at, style))
            if a.annotations.get("runbook_url"):
                lines.append(f"  {_w('runbook', style)}{a.annotations['runbook_url']}")
            lines.extend(_knowledge(a, markdown, style))
    if group.resolved:
        head = _w("resolved", style)
        lines.append(f"**{head}**" if markdown else f"{head}:")
        lines.extend(bullet + _line(a, style) + _w("at", style) + _when(a.ends_at, style) for a in group.resolved)
    return "\n".join(lines)


def dingtalk_message(group: Group, mentions: list[str], style: Style = PLAIN) -> dict[str, Any]:
    text = text_body(group, markdown=True, style=style)
    if mentions:
        text += "\n\n" + " ".join(f"@{m}" for m in mentions)
    return {
        "msgtype": "markdown",
        "markdown": {"title": title(group, style), "text": text},
        "at": {"atMobiles": mentions},
    }


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signing: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def wecom_message(group: Group, mentions: list[str], style: Style = PLAIN) -> dict[str, Any]:
    content = text_body(group, markdown=True, style=style)
    content += "".join(f"\n<@{m}>" for m in mentions)
    # WeCom rejects markdown content over 4096 bytes.
    encoded = content.encode()
    if len(encoded) > 4096:
        content = encoded[:4000].decode(errors="ignore") + "\n…(truncated)"
    return {"msgtype": "markdown", "markdown": {"content": content}}


def feishu_message(
    group: Group, timestamp: int | None = None, secret: str | None = None, style: Style = PLAIN
) -> dict[str, Any]:
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": text_body(group, style=style)}}
    if secret is not None and timestamp is not None:
        body |= {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp)}
    return body


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark signing: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def robot_ok(kind: str, body: Any) -> tuple[bool, str]:
    """Robots answer HTTP 200 with an error code inside the JSON body."""
    if not isinstance(body, dict):
        return False, "unexpected response body"
    code = body.get("errcode", body.get("code", body.get("StatusCode", 0)))
    if code in (0, "0", None):
        return True, ""
    return False, f"{kind} error {code}: {body.get('errmsg') or body.get('msg') or body.get('StatusMessage', '')}"
