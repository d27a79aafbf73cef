"""Runs collectors against assets: owns timeouts, concurrency and the no-overlap rule.

Like Nornir's runner, this is the one place that knows about concurrency; collectors only collect.
Every call returns a :class:`CollectResult`, whatever went wrong.

Two concurrency budgets, as Zabbix keeps separate pollers for unreachable hosts: targets whose last
poll succeeded share ``max_concurrency`` slots; the others (a first poll, a target whose polls failed,
timed out or stalled — an OK poll that waited out a timeout, such as a probe of a dead TCP port — for
``STRIKES`` polls in a row) share ``probation_concurrency`` slots. A target is judged by what its poll
returned, never by how long it took: on a loaded machine a healthy device's poll takes longer, and
load alone must not move a fleet into the small budget meant for dead targets. Hundreds of dead
targets, each holding a slot until its timeout, then queue among themselves and never in front of a
healthy target.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from opsagent.collectors.base import Collector, CollectResult, Outcome, Sample
from opsagent.collectors.profiles import DEFAULT_PROFILE, Profile, merged_options
from opsagent.errors import CollectError, OpsAgentError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry

log = logging.getLogger(__name__)

ResultSink = Callable[[CollectResult], Awaitable[None]]
# A healthy target leaves the healthy budget after this many failed (or stalled) polls in a row: one
# lost answer is a blip.
STRIKES = 2


class Poller:
    def __init__(
        self,
        collectors: dict[str, Collector],
        profiles: dict[tuple[str, str], Profile],
        metrics: MetricsRegistry,
        *,
        max_concurrency: int = 64,
        probation_concurrency: int | None = None,
        sink: ResultSink | None = None,
    ) -> None:
        self.collectors = collectors
        self.profiles = profiles
        self.metrics = metrics
        self.sink = sink
        # cluster: is the asset (and the poll's slot) still this agent's? Asked again once a slot is
        # free (a poll queued for one while its asset moved to another agent must not run late, beside
        # the new owner's)
        self.gate: Callable[[Asset, float | None], bool] | None = None
        self._limit = asyncio.Semaphore(max_concurrency)  # targets whose last poll succeeded
        # first polls and failing targets; by default as many slots (a one-shot fan-out has no history)
        self._probation = asyncio.Semaphore(probation_concurrency or max_concurrency)
        self._healthy: set[tuple[str, str]] = set()
        self._strikes: dict[tuple[str, str], int] = {}  # healthy targets' bad polls in a row
        self._busy: set[tuple[str, str]] = set()
        self._tasks: dict[tuple[str, str], asyncio.Future[CollectResult]] = {}  # collector work in flight
        # target -> (spec, its profile, resolved spec): a target's spec and profile are the same
        # objects poll after poll until the inventory or the content is reloaded.
        self._resolved: dict[tuple[str, str], tuple[CollectorSpec, Profile | None, CollectorSpec]] = {}

    def resolve(self, spec: CollectorSpec) -> CollectorSpec:
        """The spec with its profile's options merged in (asset options win)."""
        options = merged_options(self.profiles, spec.name, spec.profile, dict(spec.options))
        return spec.model_copy(update={"options": options})

    def _resolve_cached(self, key: tuple[str, str], spec: CollectorSpec) -> CollectorSpec:
        profile = self.profiles.get((spec.name, spec.profile or DEFAULT_PROFILE))
        hit = self._resolved.get(key)
        if hit is not None and hit[0] is spec and hit[1] is profile:
            return hit[2]
        resolved = self.resolve(spec)
        self._resolved[key] = (spec, profile, resolved)
        return resolved

    async def poll(
        self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any] | None = None, *, due: float | None = None
    ) -> CollectResult:
        """One poll now; ``due``: the scheduled slot it is for (a scheduled poll that got a concurrency
        slot only more than half an interval after it is skipped: its target's next slot is nearer)."""
        key = (asset.name, spec.name)
        if key in self._busy:  # the previous poll of this target is still running: never overlap
            self.metrics.skipped(*key)
            return CollectResult.failure(
                asset.name, spec.name, Outcome.SKIPPED, "overlap", "previous poll still running"
            )
        self._busy.add(key)
        try:
            async with self._limit if key in self._healthy else self._probation:
                refused = self._refused(asset, spec, due)
                if refused is not None:
                    self._busy.discard(key)
                    return refused
                result = await self._run(asset, spec, variables or {}, key)
        except asyncio.CancelledError:  # stopping while queued for a slot: the target is not busy
            if key not in self._tasks:
                self._busy.discard(key)
            raise
        self._judge(key, result)
        self.metrics.record(result, time.time())
        if self.sink is not None:
            try:
                await self.sink(result)
            except Exception:  # a store hiccup must not stop polling; it is logged with its cause
                log.exception("could not record the result of %s/%s", asset.name, spec.name)
        return result

    def _refused(self, asset: Asset, spec: CollectorSpec, due: float | None) -> CollectResult | None:
        # Only a healthy target's late poll is skipped. A target on probation (new, or failing) waits
        # for the failing budget behind dead ones: skipped whenever it got there late, a new healthy
        # target would never show it is healthy and never be polled at all.
        late = due is not None and time.time() > due + spec.interval / 2
        if late and (asset.name, spec.name) in self._healthy:
            self.metrics.skipped(asset.name, spec.name)
            return CollectResult.failure(asset.name, spec.name, Outcome.SKIPPED, "late", "too late for its slot")
        if self.gate is not None and not self.gate(asset, due):
            return CollectResult.failure(asset.name, spec.name, Outcome.SKIPPED, "moved", "polled elsewhere")
        return None

    async def _run(
        self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any], key: tuple[str, str]
    ) -> CollectResult:
        started, wall = time.perf_counter(), time.time()
        collector = self.collectors.get(spec.name)
        if collector is None:
            self._busy.discard(key)
            return CollectResult.failure(
                asset.name, spec.name, Outcome.FAILED, "config", f"unknown collector {spec.name!r}"
            )
        try:
            resolved = self._resolve_cached(key, spec)
        except KeyError as exc:
            self._busy.discard(key)
            return CollectResult.failure(asset.name, spec.name, Outcome.FAILED, "config", str(exc.args[0]))
        task = asyncio.ensure_future(_begin(collector, asset, resolved, variables))
        self._tasks[key] = task
        # The target stays busy until the work really ends, even past the timeout (a thread
        # stuck in a dead NFS mount keeps running): the next poll is skipped, not stacked.
        task.add_done_callback(lambda t: self._finished(key, t))
        done, _ = await asyncio.wait({task}, timeout=resolved.effective_timeout)
        if not done:
            # Not cancelled: cancelling only detaches a stuck thread, and the next poll would
            # start another one beside it until the pool is exhausted. Collectors bound their
            # own I/O; the poller only stops waiting.
            result = CollectResult.failure(
                asset.name, spec.name, Outcome.TIMEOUT, "timeout", f"no answer within {resolved.effective_timeout:g}s"
            )
        else:
            result = _unwrap(task, asset.name, spec.name)
        result.duration = time.perf_counter() - started
        result.started = wall
        up_metric = getattr(collector, "up_metric", None)  # optional: only exporters that have one
        if up_metric and not result.ok:
            # As postgres_exporter & co. do: a dead server still answers `pg_up 0`, so the usual
            # dashboards and `pg_up == 0` rules work; every other series of the target goes.
            result.samples = [Sample.of(up_metric, 0)]
        return result

    def _finished(self, key: tuple[str, str], task: asyncio.Future[CollectResult]) -> None:
        self._busy.discard(key)
        self._tasks.pop(key, None)
        if not task.cancelled() and task.exception() is not None:  # retrieved, so asyncio stays quiet
            log.debug("poll %s/%s ended with %r", *key, task.exception())

    def _judge(self, key: tuple[str, str], result: CollectResult) -> None:
        """Which budget the target's next poll takes (see the module's docstring)."""
        if result.ok and not result.stalled:
            self._healthy.add(key)
            self._strikes.pop(key, None)
        elif key in self._healthy:
            strikes = self._strikes[key] = self._strikes.get(key, 0) + 1
            if strikes >= STRIKES:
                self._healthy.discard(key)
                del self._strikes[key]

    def forget(self, asset: str, collector: str) -> None:
        """A target left the inventory: drop what the poller kept about it."""
        self._healthy.discard((asset, collector))
        self._strikes.pop((asset, collector), None)
        self._resolved.pop((asset, collector), None)

    async def poll_many(self, targets: Iterable[tuple[Asset, CollectorSpec, dict[str, Any]]]) -> list[CollectResult]:
        return list(await asyncio.gather(*(self.poll(a, s, v) for a, s, v in targets)))


def _begin(
    collector: Collector, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]
) -> Awaitable[CollectResult]:
    """The collector's work for one poll. A collector whose work runs elsewhere (threads) may hand over
    that work's future at once (``submit``): the poll then costs no coroutine or task of its own."""
    submit = getattr(collector, "submit", None)
    return submit(asset, spec, variables) if submit is not None else collector.collect(asset, spec, variables)


def _unwrap(task: asyncio.Future[CollectResult], asset: str, collector: str) -> CollectResult:
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, CollectError):
        return CollectResult.failure(asset, collector, Outcome.FAILED, exc.reason, str(exc))
    if isinstance(exc, OpsAgentError):
        return CollectResult.failure(asset, collector, Outcome.FAILED, "error", str(exc))
    log.error("collector %s crashed on %s", collector, asset, exc_info=exc)
    return CollectResult.failure(asset, collector, Outcome.FAILED, "crash", f"{type(exc).__name__}: {exc}")
