"""The desk's periodic jobs inside ``opsagent serve``: the retention purge (``desk.retention_months``)
and the contract / warranty expiry warnings (``desk.expiry_warnings``). Each is one plain function
over the store (:func:`opsagent.desk.retention.purge_expired`, :func:`opsagent.desk.expiry.warn_expiring`),
so a cluster leader rule can wrap the jobs as they are."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from opsagent.store.engine import now

log = logging.getLogger(__name__)


async def purge_job(app: Any) -> None:
    from opsagent.desk.retention import purge_expired

    months = app.config.desk.retention_months
    if months is None:
        return
    try:
        await asyncio.to_thread(purge_expired, app.store, now(), months)
    except Exception:  # a failed run is logged; the next interval tries again
        log.exception("desk retention purge failed")


async def expiry_job(app: Any) -> None:
    from opsagent.desk.expiry import run_warnings

    try:
        sent = await run_warnings(app, now())
    except Exception:  # a failed run is logged; the next interval tries again
        log.exception("desk expiry warnings failed")
        return
    if sent:
        log.info("desk expiry: %d warning(s) sent", len(sent))


def schedule(scheduler: Any, app: Any) -> None:
    settings = app.config.desk
    if settings.retention_months is not None:
        scheduler.add_job(purge_job, "interval", args=(app,), seconds=settings.purge_interval, id="desk-purge",
                          next_run_time=now())  # fmt: skip
    if settings.expiry_warnings:
        scheduler.add_job(expiry_job, "interval", args=(app,), seconds=settings.expiry_interval, id="desk-expiry",
                          next_run_time=now())  # fmt: skip
