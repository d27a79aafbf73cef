"""The long-running agent behind ``opsagent serve``: scheduler + poller + HTTP on one event loop."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.setup import EngineCollector, build_engine, parents_of
from opsagent.app import App
from opsagent.cluster.node import ClusterNode, Node, make_node
from opsagent.cluster.wide import make_wide, run_wide
from opsagent.collectors.base import CollectResult
from opsagent.desk.mailrun import schedule as schedule_desk_mail
from opsagent.desk.periodic import schedule as schedule_desk_jobs
from opsagent.gctune import schedule_settle, tune_for_polling
from opsagent.httpd.site import HttpServer, server_tls_context, start_http
from opsagent.inventory.model import Asset
from opsagent.metrics import Exposition
from opsagent.netcli.schedule import BackupJobs
from opsagent.poller import Poller, ResultSink
from opsagent.reload import Reloader
from opsagent.runbooks.api import add_routes as add_runbook_routes
from opsagent.runbooks.library import read_library
from opsagent.runbooks.triggers import CLUSTER_WATCH_SECONDS, RunbookService
from opsagent.scheduler import PollJobs, make_scheduler
from opsagent.server import add_reload_route, make_web_app
from opsagent.sla.policy import load_policy
from opsagent.sla.service import TickState
from opsagent.sla.tick import SLA_TICK_SECONDS, sla_tick
from opsagent.store.inventory_repo import InventoryWatch
from opsagent.traps.rules import load_trap_rules

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


async def _refresh(
    app: App, jobs: PollJobs, parents: dict[str, list[str]] | None = None, watch: InventoryWatch | None = None
) -> None:
    """Pick up inventory changes made while serving (with ``watch``: only when the store's inventory
    changed); on failure keep the last good set."""
    try:
        inventory = await asyncio.to_thread(app.inventory if watch is None else watch.changed)
        if inventory is None:
            return
        jobs.sync(app.targets(inventory))
        if parents is not None:
            parents.clear()
            parents.update(parents_of(inventory))
    except Exception:
        log.exception("inventory refresh failed; keeping the previous poll jobs")


async def run_agent(app: App, host: str, port: int, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set. Invalid content or an unreachable store fail before binding."""
    profiles = app.load_profiles()
    loop = asyncio.get_running_loop()
    # Blocking collectors (psutil, drivers) share a bounded pool: poll_threads for healthy targets
    # plus one per slot of the failing targets' budget, so dead targets blocked in a connect
    # timeout can never take the threads healthy targets (and /metrics scrapes) need.
    threads = app.config.poll_threads + app.config.max_concurrent_failing_polls
    pool = ThreadPoolExecutor(threads, thread_name_prefix=POLL_THREAD_PREFIX)
    loop.set_default_executor(pool)
    await asyncio.to_thread(app.seed_if_empty)
    watch = InventoryWatch(app.store)  # primed here: the refresh jobs load the inventory again only when it changes
    inventory = await asyncio.to_thread(watch.load)
    engine, parents = build_engine(app, inventory)  # invalid rules refuse to start, like profiles
    policy = load_policy(app.config.roots)  # an invalid service-level policy refuses to start too
    engine.classify = policy.classify_labels  # new incidents: impact/urgency/priority from labels
    runbooks = RunbookService(app, read_library(app.config.roots))  # a broken runbook file is logged and left out
    trap_rules = load_trap_rules(app.config.roots) if app.config.traps is not None else []  # and trap rules
    server_tls_context(app.config.web)  # so does a TLS certificate or key that does not load
    # After a restart, restored alerts wait two of the longest poll intervals for their series, and
    # (bounded) for every target's first report.
    targets = app.targets(inventory)
    jobs_ref: list[PollJobs] = []
    node = await _join(app, engine, f"{host}:{port}", lambda: jobs_ref[0].assets() if jobs_ref else [])
    grace = 2 * max([spec.interval for _asset, spec, _vars in targets] + [engine.config.evaluation.interval])
    keys = {(asset.name, spec.name) for asset, spec, _vars in targets}
    await asyncio.to_thread(engine.restore, grace, lambda: not keys <= set(app.metrics.history.producers()))
    scheduler = make_scheduler()
    poller = app.poller(profiles, serving=True)
    _workers(app, start=True)  # the snmp collector polls in worker processes (one per CPU by default)
    poller.sink = _poking(poller.sink, engine)
    tune_for_polling()  # many short-lived samples per poll: fewer, cheaper cycle-collector passes
    schedule_settle(scheduler, grace)  # what the first polls built leaves the collector's passes
    jobs = _poll_jobs(app, poller, node)
    jobs_ref.append(jobs)
    jobs.sync(app.targets(inventory))
    scheduler.add_job(
        _refresh,
        "interval",
        args=(app, jobs, parents, watch),
        seconds=INVENTORY_REFRESH_SECONDS,
        id="inventory-refresh",
    )
    tick_state = TickState()
    tick_state.fence = node.fence  # a leader that lost its lease mid-tick writes nothing
    scheduler.add_job(
        leader_only(node, sla_tick), "interval", args=(app, policy, engine.config, tick_state),
        seconds=SLA_TICK_SECONDS, id="sla-tick",
    )  # fmt: skip
    backups = BackupJobs(
        scheduler, app.store, zone=app.config.zone
    )  # scheduled config backup of network gear (netmiko)
    backups.gate = node.owns  # each asset's backups by the agent polling it
    backups.sync(inventory)
    scheduler.add_job(_refresh_backups, "interval", args=(backups, watch.follower()), seconds=INVENTORY_REFRESH_SECONDS)
    schedule_desk_mail(scheduler, app, node.is_leader)  # the support mailbox (desk_mail): the leader reads it
    schedule_desk_jobs(scheduler, app, node.is_leader)  # retention purge, contract/warranty expiry: the leader's
    exposition = Exposition(app.metrics)
    exposition.health.register(backups)
    exposition.health.register(EngineCollector(engine))
    exposition.health.register(node)
    web_app = make_web_app(app, exposition, engine, policy)
    add_runbook_routes(web_app, runbooks)
    runbooks.schedule(scheduler)
    scheduler.add_job(runbooks.reload, "interval", args=(scheduler,), seconds=INVENTORY_REFRESH_SECONDS)
    http: HttpServer | None = None
    # SIGHUP and POST /-/reload: new content in place when all of it is valid, else the last good set
    reloader = Reloader(app, engine, poller, policy, runbooks, scheduler, lambda: _refresh(app, jobs, parents))
    wide = reloader.wide = make_wide(engine, node)  # opsagent_scope: cluster rules (a member's)
    exposition.health.register(reloader)
    add_reload_route(web_app, reloader.reload)
    hangup = _on_hangup(loop, reloader.signal)
    runbooks.leader = node.is_leader  # scheduled runbooks and those alerts start: the leader's
    engine.on_opened = runbooks.poke  # new incidents' runbooks start at once, not at the watcher's next look
    if node.enabled:  # the leader starts the runbooks of incidents the other members open
        runbooks.watch_seconds = CLUSTER_WATCH_SECONDS
    runbooks.agent = node.id if node.enabled else None  # alert-started runs claimed in the store
    evaluating: asyncio.Task[None] | None = None
    watching: asyncio.Task[None] | None = None
    widening: asyncio.Task[None] | None = None
    traps = None
    try:
        http = await start_http(web_app, host, port, app.config.web)
        if app.config.traps is not None:  # SNMP traps/informs → events → trap rules → incidents
            from opsagent.traps.service import TrapService

            traps = reloader.traps = TrapService(app, engine, inventory, trap_rules)
            exposition.health.register(traps)
            traps.start(stop)
            log.info("opsagent receiving SNMP traps on udp %s", app.config.traps.listen)
        scheduler.start()
        jobs.start()
        evaluating = asyncio.create_task(engine.run(stop))
        watching = asyncio.create_task(runbooks.watch(stop))
        widening = asyncio.create_task(run_wide(wide, node, stop))
        log.info("opsagent serving %s://%s:%d/metrics", http.scheme, host, port)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        if hangup:
            loop.remove_signal_handler(signal.SIGHUP)
        if evaluating is not None:
            await asyncio.wait({evaluating}, timeout=10)
            evaluating.cancel()
        if watching is not None:
            await asyncio.wait({watching}, timeout=10)
        await runbooks.close()  # runs in flight are recorded as interrupted
        await _finish(widening)
        await node.close()  # a clean stop leaves the cluster at once: the others take over now
        if traps is not None:
            await traps.close()
        jobs.stop()
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if http is not None:
            await http.close()
        # A poll stuck in a thread (dead NFS mount, a command past its timeout) must not hold up
        # the stop: queued work is dropped, and asyncio.run gets an idle pool to join instead.
        pool.shutdown(wait=False, cancel_futures=True)
        loop.set_default_executor(ThreadPoolExecutor(1))
        _workers(app, start=False)


def _poll_jobs(app: App, poller: Poller, node: Node) -> PollJobs:
    """The poll jobs of this agent's targets: alone every target; in a cluster only its shard, re-scoped
    when the members change (and each run checks the shard again before it polls)."""
    jobs = PollJobs(poller, app.metrics, app.config.poll_wave)
    jobs.gate = poller.gate = node.owns
    if isinstance(node, ClusterNode):
        loop = asyncio.get_running_loop()
        jobs.scope = node
        node.on_change = lambda: _soon(loop, jobs.rescope)
    return jobs


def _workers(app: App, *, start: bool) -> None:
    """Start (or stop) the poll worker processes of the collectors that have them."""
    for name, collector in app.collectors.items():
        if start and callable(use := getattr(collector, "use_workers", None)):
            count = use()
            if count:
                log.info("%s: %d poll worker processes", name, count)
        elif not start and callable(stop := getattr(collector, "stop_workers", None)):
            stop()


async def _join(app: App, engine: AlertEngine, listen: str, targets: Callable[[], list[tuple[Asset, int]]]) -> Node:
    """This agent's cluster membership (alone on SQLite): a member labels its self-metrics, keeps its
    own alert states, claims notifications, and knows the members before its first poll."""
    node = make_node(app.store, app.config.cluster, listen, targets)
    if node.enabled:
        app.metrics.agent_labels = {"agent": node.id}
        engine.agent = node.id
        engine.owns_asset = node.owns_name
        engine.dispatcher.agent = node.id
        assert isinstance(node, ClusterNode)
        node.apply(await asyncio.to_thread(node.refresh))
        node.start()
    return node


async def _finish(*tasks: asyncio.Task[None] | None) -> None:
    started = {t for t in tasks if t is not None}
    if started:
        await asyncio.wait(started, timeout=5)


def leader_only(node: Node, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A store-wide job (SLA tick, retention): run by the leader only, checked at each run."""

    async def run(*args: Any) -> Any:
        if node.is_leader():
            return await job(*args)
        return None

    return run


def _on_hangup(loop: asyncio.AbstractEventLoop, reload: Callable[[], None]) -> bool:
    """SIGHUP reloads instead of killing serve; False where signals cannot be handled (not the main thread)."""
    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (RuntimeError, ValueError):
        return False
    return True


async def _refresh_backups(backups: BackupJobs, watch: InventoryWatch) -> None:
    """The config backup jobs follow the inventory when it changed; on failure they stay as they are."""
    try:
        inventory = await asyncio.to_thread(watch.changed)
    except Exception:
        log.exception("config backup jobs not refreshed")
        return
    if inventory is not None:
        await backups.refresh(lambda: inventory)


def _soon(loop: asyncio.AbstractEventLoop, call: Callable[[], None]) -> None:
    """From another thread: ``call`` on the loop, soon."""
    loop.call_soon_threadsafe(call)


def _poking(sink: ResultSink | None, engine: AlertEngine) -> ResultSink:
    """After a poll result is recorded, ask the engine to evaluate soon (threshold → incident < 1 s)."""

    async def run(result: CollectResult) -> None:
        if sink is not None:
            await sink(result)
        engine.poke(result.asset)

    return run
