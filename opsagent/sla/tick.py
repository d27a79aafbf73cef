"""The SLA tick of ``opsagent serve``: recompute clocks, record escalations, send their notices."""

from __future__ import annotations

import asyncio
import logging

from opsagent.alerts.notify.formats import Style
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.app import App
from opsagent.sla.notify import send_all
from opsagent.sla.policy import ServiceLevelPolicy
from opsagent.sla.service import TickState, archive_due, tick

log = logging.getLogger(__name__)
SLA_TICK_SECONDS = 30.0


async def sla_tick(app: App, policy: ServiceLevelPolicy, notify: NotifyConfig, state: TickState) -> int:
    """One tick; errors are logged (the next tick retries), never raised into the scheduler."""
    try:
        fired = await asyncio.to_thread(tick, app.store, policy, None, state)
        if fired:
            await send_all(fired, notify, Style(app.config.lang, app.config.zone), app.store)
        await asyncio.to_thread(archive_due, app.store, policy)
    except Exception:  # a failed tick must not stop the scheduler; the next one recomputes everything
        log.exception("SLA tick failed")
        return 0
    return len(fired)
