"""The desk's periodic jobs inside ``opsagent serve``: the retention purge (``desk.retention_months``)
and the contract / warranty expiry warnings (``desk.expiry_warnings``). Each is one plain function
over the store (:func:`opsagent.desk.retention.purge_expired`, :func:`opsagent.desk.expiry.warn_expiring`),
so a cluster leader rule can wrap the jobs as they are."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from opsagent.store.engine import now

log = logging.getLogger(__name__)


async def purge_job(app: Any, leader: Callable[[], bool] = lambda: True) -> None:
    from opsagent.desk.retention import purge_expired

    months = app.config.desk.retention_months
    if months is None or not leader():  # agents sharing a store: only the leader purges
        return
    try:
        await asyncio.to_thread(purge_expired, app.store, now(), months)
    except Exception:  # a failed run is logged; the next interval tries again
        log.exception("desk retention purge failed")


async def expiry_job(app: Any, leader: Callable[[], bool] = lambda: True) -> None:
    from opsagent.desk.expiry import run_warnings

    if not leader():  # agents sharing a store: only the leader warns (once, not once per agent)
        return
    try:
        sent = await run_warnings(app, now())
    except Exception:  # a failed run is logged; the next interval tries again
        log.exception("desk expiry warnings failed")
        return
    if sent:
        log.info("desk expiry: %d warning(s) sent", len(sent))


def schedule(scheduler: Any, app: Any, leader: Callable[[], bool] = lambda: True) -> None:
    settings = app.config.desk
    if settings.retention_months is not None:
        scheduler.add_job(purge_job, "interval", args=(app, leader), seconds=settings.purge_interval, id="desk-purge",
                          next_run_time=now())  # fmt: skip
    if settings.expiry_warnings:
        every = settings.expiry_interval
        scheduler.add_job(expiry_job, "interval", args=(app, leader), seconds=every, id="desk-expiry",
                          next_run_time=now())  # fmt: skip
