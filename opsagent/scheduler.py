"""APScheduler 3.x wiring: one interval job per (asset, collector), reconciled with the inventory.

``max_instances=1`` + ``coalesce`` mean a slow target is never polled twice at once and missed runs
collapse into one; the poller's own busy set covers work that outlives its timeout. Errors and
missed runs become metrics, never exceptions. Each target polls at its own fixed phase of its
interval (a hash of the target, as Prometheus spreads scrapes), so targets sharing an interval never
start as one burst. A run that would start more than half an interval after its slot (an overloaded
or frozen agent) is skipped, not run late: its target is polled at its next slot, never twice within
half an interval, by this agent or by one that took the target over.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller

log = logging.getLogger(__name__)
# One line per poll this agent really started (with -v): the agent's own record of who polled what, when
polls_log = logging.getLogger("opsagent.polls")

Target = tuple[Asset, CollectorSpec, dict[str, Any]]
JOB_PREFIX = "poll:"
QUIET_SKIPS = ("moved", "late")  # not this agent's slot, or too late for it: counted, not logged


def make_scheduler() -> AsyncIOScheduler:
    return AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})


def _job_id(asset: str, spec: CollectorSpec) -> str:
    return f"{JOB_PREFIX}{asset}:{spec.name}:{spec.profile or ''}"


def phase(job_id: str, interval: float) -> float:
    """The target's fixed offset within its interval, in [0, interval): a stable hash of its id."""
    return zlib.crc32(job_id.encode()) / 2**32 * interval


def slot(job_id: str, interval: float, now: float) -> float:
    """The slot a run at ``now`` is for: the latest point of the target's phase at or before ``now``
    (a late run belongs to the slot it missed; a run a few microseconds early, to the next one)."""
    grid = phase(job_id, interval)
    return now + 0.01 - (now + 0.01 - grid) % interval


def first_run(job_id: str, interval: float, now: datetime) -> datetime:
    """The first time at or after ``now`` that falls on the target's phase of its interval (counted
    from the Unix epoch), so an inventory's polls spread evenly over the interval and each target
    keeps its rhythm across restarts and reloads, as Prometheus offsets each target's scrapes."""
    offset = (phase(job_id, interval) - now.timestamp()) % interval
    return now + timedelta(seconds=offset)


def _start(now: datetime, since: float, interval: float) -> datetime:
    """Where a new job's first slot is sought: from when its target became this agent's if that was
    less than half an interval ago (a slot missed while the jobs were re-synced still runs), else now."""
    if now.timestamp() - interval / 2 < since < now.timestamp():
        return datetime.fromtimestamp(since, UTC)
    return now


class Scope(Protocol):
    """The targets this agent polls, when not all (a cluster member: its shard)."""

    def epoch(self) -> tuple[object, float]:
        """A token that changes whenever the targets may have, and since when (Unix time) it holds."""
        ...

    def may_poll(self, asset: Asset) -> bool: ...


class PollJobs:
    """Keeps the scheduler's poll jobs equal to the inventory's (asset, collector) targets — with a
    ``scope``, to those of its targets this agent polls, re-synced by :meth:`rescope` when it changes."""

    def __init__(self, scheduler: AsyncIOScheduler, poller: Poller, metrics: MetricsRegistry) -> None:
        self.scheduler = scheduler
        self.poller = poller
        self.metrics = metrics
        self._specs: dict[str, tuple[Asset, CollectorSpec, dict[str, Any]]] = {}
        # cluster: polls an asset only while this agent owns it (checked before every poll, with the
        # slot the poll is for); the series of a target given up are dropped at its next turn
        self.gate: Callable[[Asset, float | None], bool] | None = None
        self._given_up: set[str] = set()
        self.scope: Scope | None = None
        self._targets: list[Target] = []  # the whole inventory's
        self._token: object = None
        scheduler.add_listener(self._on_skip, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)

    def _on_skip(self, event: JobExecutionEvent) -> None:
        target = self._specs.get(event.job_id)
        if target is not None:
            self.metrics.skipped(target[0].name, target[1].name)

    def sync(self, targets: list[Target]) -> tuple[int, int]:
        """Add, change and remove jobs; returns (added or changed, removed)."""
        self._targets = list(targets)
        scope = self.scope
        self._token, since = scope.epoch() if scope is not None else (None, 0.0)
        wanted = {_job_id(a.name, s): (a, s, v) for a, s, v in targets if scope is None or scope.may_poll(a)}
        now = datetime.now(UTC)
        changed = 0
        for job_id, target in wanted.items():
            if self._specs.get(job_id) == target:
                continue
            asset, spec, variables = target
            self.scheduler.add_job(
                self._poll_job(asset, spec, variables),
                "interval",
                seconds=spec.interval,
                id=job_id,
                name=job_id,
                replace_existing=True,
                next_run_time=first_run(job_id, spec.interval, _start(now, since, spec.interval)),
                misfire_grace_time=max(1, int(spec.interval / 2)),
            )
            self._specs[job_id] = target
            changed += 1
        removed = [job_id for job_id in self._specs if job_id not in wanted]
        for job_id in removed:
            asset, spec, _ = self._specs.pop(job_id)
            self.scheduler.remove_job(job_id)
            self.metrics.forget(asset.name, spec.name)
            self.poller.forget(asset.name, spec.name)
        if changed or removed:
            log.info("poll jobs: %d added or changed, %d removed, %d total", changed, len(removed), len(wanted))
        return changed, len(removed)

    def rescope(self) -> None:
        """The scope changed (a cluster member's shard): add and remove jobs to match it."""
        if self.scope is not None and self.scope.epoch()[0] is not self._token:
            self.sync(self._targets)

    def assets(self) -> list[tuple[Asset, int]]:
        """Each asset of the inventory with its number of targets (the cluster's shard sizes)."""
        counts: dict[str, tuple[Asset, int]] = {}
        for asset, _spec, _vars in list(self._targets):
            counts[asset.name] = (asset, counts.get(asset.name, (asset, 0))[1] + 1)
        return list(counts.values())

    def _owned(self, job_id: str, asset: Asset, spec: CollectorSpec) -> bool:
        if self.gate is None or self.gate(asset, None):
            self._given_up.discard(job_id)
            return True
        if job_id not in self._given_up:  # another agent polls it now: its series are not ours to serve
            self._given_up.add(job_id)
            self.metrics.forget(asset.name, spec.name)
            self.poller.forget(asset.name, spec.name)
        return False

    def _poll_job(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        job_id = _job_id(asset.name, spec)

        async def run() -> None:
            due = slot(job_id, spec.interval, time.time())
            if not self._owned(job_id, asset, spec):
                return
            try:
                result = await self.poller.poll(asset, spec, variables, due=due)
            except asyncio.CancelledError:  # the agent is stopping: an interrupted poll is no error
                log.debug("poll %s/%s interrupted by shutdown", asset.name, spec.name)
                return
            if result.started:
                polls_log.info(
                    "poll %s/%s due %.3f started %.3f took %.3f", asset.name, spec.name, due, result.started,
                    result.duration,
                )  # fmt: skip
            if not result.ok and result.reason not in QUIET_SKIPS:
                log.warning(
                    "poll %s/%s: %s (%s) %s", asset.name, spec.name, result.outcome.value, result.reason, result.message
                )

        return run
