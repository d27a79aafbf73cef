"""The long-running agent behind ``opsagent serve``: scheduler + poller + HTTP on one event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from opsagent.app import App
from opsagent.metrics import Exposition
from opsagent.scheduler import PollJobs, make_scheduler
from opsagent.server import make_web_app

log = logging.getLogger(__name__)

INVENTORY_REFRESH_SECONDS = 30.0
POLL_THREAD_PREFIX = "opsagent-poll"


def stuck_poll_threads(grace: float) -> list[threading.Thread]:
    """Poll threads still running after ``grace`` seconds (they would block interpreter exit)."""
    deadline = time.monotonic() + grace
    while True:
        alive = [t for t in threading.enumerate() if t.name.startswith(POLL_THREAD_PREFIX) and t.is_alive()]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


async def _refresh(app: App, jobs: PollJobs) -> None:
    """Pick up inventory changes made while serving; on failure keep the last good set."""
    try:
        inventory = await asyncio.to_thread(app.inventory)
        jobs.sync(app.targets(inventory))
    except Exception:
        log.exception("inventory refresh failed; keeping the previous poll jobs")


async def run_agent(app: App, host: str, port: int, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set. Invalid content or an unreachable store fail before binding."""
    profiles = app.load_profiles()
    loop = asyncio.get_running_loop()
    # Blocking collectors (psutil, later fabric/netmiko/drivers) share a bounded pool.
    pool = ThreadPoolExecutor(app.config.poll_threads, thread_name_prefix=POLL_THREAD_PREFIX)
    loop.set_default_executor(pool)
    await asyncio.to_thread(app.seed_if_empty)
    inventory = await asyncio.to_thread(app.inventory)
    scheduler = make_scheduler()
    jobs = PollJobs(scheduler, app.poller(profiles), app.metrics)
    jobs.sync(app.targets(inventory))
    scheduler.add_job(_refresh, "interval", args=(app, jobs), seconds=INVENTORY_REFRESH_SECONDS, id="inventory-refresh")
    runner = web.AppRunner(make_web_app(app, Exposition(app.metrics)), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        scheduler.start()
        log.info("opsagent serving http://%s:%d/metrics", host, port)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        await runner.cleanup()
        # A poll stuck in a thread (dead NFS mount, a command past its timeout) must not hold up
        # the stop: queued work is dropped, and asyncio.run gets an idle pool to join instead.
        pool.shutdown(wait=False, cancel_futures=True)
        loop.set_default_executor(ThreadPoolExecutor(1))
