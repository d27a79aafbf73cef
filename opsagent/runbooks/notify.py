"""``notify`` steps sent through the receivers of ``alerts/notifications.yaml`` (webhook, email,
DingTalk, WeCom, Feishu), by name, with the same senders, formats and credential references as
alert notifications; plus the load-time check that every named receiver exists."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from opsagent.alerts.notify import senders
from opsagent.alerts.notify.formats import Group, NotifyAlert
from opsagent.alerts.notifyconfig import NOTIFY_FILE_NAMES, NotifyConfig, load_notify_config
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.loader import Document, file_stamp
from opsagent.runbooks.results import FAILED, OK, TIMEOUT
from opsagent.runbooks.transports import Output


def known_receivers(roots: list[Path]) -> frozenset[str] | None:
    """Receiver names of the content roots; None when notifications.yaml is itself invalid
    (`opsagent check` reports that file's own errors). Read again only when one of the roots'
    notifications files changed (serve re-reads the runbook library every 30 s: parsing and validating
    the file each time was most of an idle agent's CPU)."""
    stamp = _stamp(roots)
    hit = _RECEIVERS.get(tuple(roots))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        names: frozenset[str] | None = frozenset(r.name for r in load_notify_config(roots).receivers)
    except ConfigError:
        names = None
    _RECEIVERS[tuple(roots)] = (stamp, names)
    return names


_RECEIVERS: dict[tuple[Path, ...], tuple[tuple[Any, ...], frozenset[str] | None]] = {}


def _stamp(roots: list[Path]) -> tuple[Any, ...]:
    """What the notifications files of ``roots`` are now: each candidate's stamp, None when absent."""
    return tuple(file_stamp(root / "alerts" / name) for root in roots for name in NOTIFY_FILE_NAMES)


def _receiver_refs(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(location, name) of every receiver a notify step names, in steps nested at any depth
    (blocks, rescue, always, on_failure, wait_until probes)."""
    if isinstance(data, dict):
        notify = data.get("notify")
        if isinstance(notify, dict):
            names = notify.get("receiver")
            if isinstance(names, str):
                yield (*loc, "notify", "receiver"), names
            elif isinstance(names, list):
                for i, name in enumerate(names):
                    if isinstance(name, str):
                        yield (*loc, "notify", "receiver", i), name
        for key, value in data.items():
            yield from _receiver_refs(value, (*loc, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from _receiver_refs(item, (*loc, i))


def check_receivers(doc: Document, known: Collection[str]) -> list[ConfigIssue]:
    issues = []
    for loc, name in _receiver_refs(doc.data):
        if name not in known:
            choices = ", ".join(sorted(known)) or "none configured"
            message = f"unknown receiver {name!r} (receivers of alerts/notifications.yaml: {choices})"
            issues.append(doc.issue(loc, message))
    return issues


def _group(message: str, receiver: str, context: dict[str, Any]) -> Group:
    """The message as one firing notification: webhooks get Alertmanager's payload (the message
    in annotations.summary), email and robots the text with the runbook as its title."""
    labels = {
        "alertname": f"runbook {context['runbook']}",
        "runbook": str(context["runbook"]),
        "run": str(context["run"]),
        "asset": str(context["asset"]),
        "step": str(context["step"]),
    }
    alert = NotifyAlert(
        fingerprint=f"runbook-{context['run']}-{context['asset']}-{context['step']}",
        labels=labels,
        annotations={"summary": message, "description": message},
        status="firing",
        starts_at=time.time(),
        incident_id=context.get("incident"),
    )
    return Group(receiver=receiver, key=alert.fingerprint, group_labels={"alertname": labels["alertname"]},
                 firing=[alert])  # fmt: skip


async def send_to_receivers(
    config: NotifyConfig | None, names: list[str], message: str, context: dict[str, Any], timeout: float
) -> Output:
    """Send to every named receiver at once; the step fails if any of them did not take it."""
    if config is None:
        return Output(FAILED, message="alerts/notifications.yaml is invalid: see `opsagent check`")
    receivers = {r.name: r for r in config.receivers}
    missing = [n for n in names if n not in receivers]
    if missing:
        return Output(FAILED, message=f"unknown receiver(s): {', '.join(missing)}")
    url = config.evaluation.external_url

    async def one(name: str) -> tuple[bool, str]:
        try:
            return await asyncio.wait_for(senders.send(receivers[name], _group(message, name, context), url), timeout)
        except TimeoutError:
            return False, "timeout"

    results = await asyncio.gather(*(one(n) for n in names))
    failed = [f"{n}: {error}" for n, (ok, error) in zip(names, results, strict=True) if not ok]
    if failed:
        status = TIMEOUT if all(r[1] == "timeout" for r in results if not r[0]) else FAILED
        return Output(status, message, "", None, message="not delivered to " + "; ".join(failed))
    return Output(OK, message, "", 0, message="sent to " + ", ".join(names))
