"""Escalation notices: each escalated step goes to the notification receivers it names.

``channel:NAME`` is a receiver of ``alerts/notifications.yaml``; ``person:``/``team:`` targets (and the
on-call person) reach a receiver of the same name when one is configured, and are otherwise only
named in the ``escalated`` event (the audit of who should have been told).
"""

from __future__ import annotations

import asyncio
import logging
import time

from opsagent.alerts.notify import senders
from opsagent.alerts.notify.formats import PLAIN, Group, NotifyAlert, Style
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.desk.privacy import for_third_parties
from opsagent.knowledge.notice import annotate
from opsagent.sla.service import Escalated
from opsagent.store.engine import Store

log = logging.getLogger(__name__)


def group_for(step: Escalated, receiver: str) -> Group:
    """The notice as one firing notification; a person's ticket title has its phones and emails masked
    (receivers are third parties to the requester)."""
    esc = step.step
    title = for_third_parties(step.title, step.source)
    alert = NotifyAlert(
        fingerprint=f"incident-{step.incident_id}-{esc.target}-{esc.level}",
        labels={"alertname": "IncidentEscalated", "incident": str(step.incident_id), "priority": step.priority,
                "sla_target": esc.target, "escalation_level": str(esc.level), "severity": "warning"},
        annotations={"summary": f"#{step.incident_id} {title}: {esc.target} at {esc.percent:g}% of its time",
                     "description": "escalated to " + ", ".join(esc.notify)},
        status="firing",
        starts_at=time.time(),
        incident_id=step.incident_id,
    )  # fmt: skip
    return Group(receiver=receiver, key=alert.fingerprint, group_labels={"incident": str(step.incident_id)},
                 firing=[alert])  # fmt: skip


async def send_all(
    steps: list[Escalated], config: NotifyConfig, style: Style = PLAIN, store: Store | None = None
) -> list[tuple[str, bool, str]]:
    """(receiver, ok, error) per notice sent; a failure is logged and returned, never raised. With the
    store, each notice names the knowledge articles suggested to its ticket."""
    receivers = {r.name: r for r in config.receivers}
    out: list[tuple[str, bool, str]] = []
    for step in steps:
        for target in step.step.notify:
            _kind, _, name = target.partition(":")
            receiver = receivers.get(name)
            if receiver is None:
                continue
            group = group_for(step, name)
            if store is not None:
                await asyncio.to_thread(annotate, store, [group], style.lang, config.evaluation.external_url)
            ok, error = await senders.send(receiver, group, config.evaluation.external_url, style)
            if not ok:
                log.warning("escalation notice for incident #%d to %s failed: %s", step.incident_id, name, error)
            out.append((name, ok, error))
    return out
