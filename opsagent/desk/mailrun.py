"""The email channel assembled from the agent config and content: one run (``opsagent desk mail fetch``)
and the scheduled job of ``opsagent serve``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsagent.alerts.notifyconfig import EmailConfig, load_notify_config
from opsagent.desk.content import load_desk
from opsagent.desk.mailbox import FetchStats, MailboxError, fetch
from opsagent.desk.mailconfig import MailConfig
from opsagent.desk.mailintake import MailDesk
from opsagent.desk.mailout import Outbox, environment, queue_status_mails
from opsagent.sla.policy import load_policy

log = logging.getLogger(__name__)


@dataclass
class MailChannel:
    desk: MailDesk
    cfg: MailConfig
    outbox: Outbox | None  # None: no email receiver to send through (intake only)

    def run_once(self, limit: int | None = None) -> FetchStats:
        stats = fetch(self.desk, self.cfg, limit)
        queue_status_mails(self.desk.store)
        if self.outbox is not None:
            stats.sent, stats.failed = self.outbox.flush()
        return stats


def smtp_settings(app: Any, cfg: MailConfig) -> EmailConfig | None:
    """The email receiver of alerts/notifications.yaml our replies go through (named, else the first)."""
    receivers = [r for r in load_notify_config(app.config.roots).receivers if r.email is not None]
    if cfg.receiver is not None:
        named = [r for r in receivers if r.name == cfg.receiver]
        if not named:
            raise MailboxError(f"desk_mail.receiver: no email receiver {cfg.receiver!r} in alerts/notifications.yaml")
        receivers = named
    return receivers[0].email if receivers else None


def channel(app: Any) -> MailChannel:
    cfg: MailConfig | None = app.config.desk_mail
    if cfg is None:
        raise MailboxError("desk_mail: no support mailbox configured (the desk_mail section of the config)")
    roots = app.config.roots
    policy = load_policy(roots)
    desk = MailDesk(app.store, policy, load_desk(roots), cfg, app.config.home)
    smtp = smtp_settings(app, cfg)
    outbox = Outbox(app.store, policy, cfg, smtp, environment(roots), app.config.zone) if smtp else None
    return MailChannel(desk, cfg, outbox)


async def _job(app: Any) -> None:
    try:
        stats = await asyncio.to_thread(lambda: channel(app).run_once())
    except MailboxError as exc:
        log.warning("desk mail: %s", exc)
        return
    if stats.new or stats.sent or stats.failed:
        log.info("desk mail: %s", stats.as_dict())


async def _leader_job(app: Any, leader: Callable[[], bool]) -> None:
    if leader():  # agents sharing a store: only the leader reads the mailbox
        await _job(app)


def schedule(scheduler: Any, app: Any, leader: Callable[[], bool] = lambda: True) -> None:
    """Poll the support mailbox every poll_interval inside ``opsagent serve`` (when configured)."""
    cfg: MailConfig | None = app.config.desk_mail
    if cfg is not None:
        scheduler.add_job(_leader_job, "interval", args=(app, leader), seconds=cfg.poll_interval, id="desk-mail")
