"""Poll scheduling: one timer per (asset, collector) on the event loop, reconciled with the inventory.

Each target polls at its own fixed phase of its interval (a hash of the target, as Prometheus spreads
scrapes), so targets sharing an interval never start as one burst. The phases fall on a grid of
``poll_wave`` seconds (15 s by default): the targets of one grid point start together, a wave, as
Telegraf and LibreNMS start theirs. Spread one by one, every poll ran alone after idle time: on cold CPU
caches (a host's parse took twice its warm time), with its own timer wake-up, thread hand-offs and alert
tick. In a wave the polls after the first run warm and share those, which at 100 SSH hosts a minute cut
serve's CPU per poll by about a quarter (bench/bench_ssh_serve.py). A wave is a quarter of a 60 s
interval's targets, never one burst per interval; an interval shorter than two waves keeps the one by one
spread, and ``poll_wave: 0`` restores it everywhere. A target is never polled twice at
once (a slot reached while its last poll still runs is skipped and counted), and missed slots collapse
into one. A run that would start more than half an interval after its slot (an overloaded or frozen
agent) is skipped, not run late: its target is polled at its next slot, never twice within half an
interval, by this agent or by one that took the target over. Skips become metrics, never exceptions.

The timers are the event loop's own (``call_at``): a slot costs one timer callback and one task, where
an APScheduler interval job per target cost its job-store bookkeeping, datetime arithmetic, executor
wrapper task and event dispatch on every run — about a fifth of serve's event-loop CPU per SSH poll.
APScheduler still runs the agent's other jobs (refreshes, ticks, runbooks).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

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


def phase(job_id: str, interval: float, wave: float = 0.0) -> float:
    """The target's fixed offset within its interval, in [0, interval): a stable hash of its id, on the
    interval's grid of waves when ``wave`` (seconds) is set: ``round(interval / wave)`` waves, evenly
    loaded, as the hash is."""
    share = zlib.crc32(job_id.encode()) / 2**32
    waves = round(interval / wave) if wave > 0 else 0
    if waves < 2:
        return share * interval
    return int(share * waves) * interval / waves


def slot(job_id: str, interval: float, now: float, wave: float = 0.0) -> float:
    """The slot a run at ``now`` is for: the latest point of the target's phase at or before ``now``
    (a late run belongs to the slot it missed; a run a few microseconds early, to the next one)."""
    grid = phase(job_id, interval, wave)
    return now + 0.01 - (now + 0.01 - grid) % interval


def first_run(job_id: str, interval: float, now: datetime, wave: float = 0.0) -> datetime:
    """The first time at or after ``now`` that falls on the target's phase of its interval (counted
    from the Unix epoch), so an inventory's polls spread evenly over the interval and each target
    keeps its rhythm across restarts and reloads, as Prometheus offsets each target's scrapes."""
    offset = (phase(job_id, interval, wave) - now.timestamp()) % interval
    return now + timedelta(seconds=offset)


def _start(now: datetime, since: float, interval: float) -> datetime:
    """Where a new job's first slot is sought: from when its target became this agent's if that was
    less than half an interval ago (a slot missed while the jobs were re-synced still runs), else now."""
    if now.timestamp() - interval / 2 < since < now.timestamp():
        return datetime.fromtimestamp(since, UTC)
    return now


def _crashed(task: asyncio.Task[None]) -> None:
    """A poll run that raised (a bug, not a failed poll: those are results) is logged, never lost."""
    if not task.cancelled() and task.exception() is not None:
        log.error("poll job crashed", exc_info=task.exception())


class Scope(Protocol):
    """The targets this agent polls, when not all (a cluster member: its shard)."""

    def epoch(self) -> tuple[object, float]:
        """A token that changes whenever the targets may have, and since when (Unix time) it holds."""
        ...

    def may_poll(self, asset: Asset) -> bool: ...


@dataclass(slots=True)
class _Slot:
    """One target's place in the schedule: its next slot (Unix time), the armed timer, its run in flight."""

    target: Target
    run: Callable[[], Awaitable[None]]
    due: float
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task[None] | None = None


class PollJobs:
    """Keeps one timer per (asset, collector) target of the inventory — with a ``scope``, per target
    this agent polls, re-synced by :meth:`rescope` when it changes. Timers are armed by :meth:`start`
    (serve starts them with its scheduler) and disarmed by :meth:`stop`."""

    def __init__(self, poller: Poller, metrics: MetricsRegistry, wave: float = 0.0) -> None:
        self.poller = poller
        self.metrics = metrics
        self.wave = wave  # seconds between waves (see the module's docstring); 0: every target on its own
        self._slots: dict[str, _Slot] = {}
        # cluster: polls an asset only while this agent owns it (checked before every poll, with the
        # slot the poll is for); the series of a target given up are dropped at its next turn
        self.gate: Callable[[Asset, float | None], bool] | None = None
        self._given_up: set[str] = set()
        self.scope: Scope | None = None
        self._targets: list[Target] = []  # the whole inventory's
        self._token: object = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set while started

    def start(self) -> None:
        """Arm every target's timer (on the running loop); later syncs arm their new targets at once."""
        self._loop = asyncio.get_running_loop()
        for job_id in self._slots:
            self._arm(job_id)

    def stop(self) -> None:
        """Disarm the timers (polls in flight finish or are cancelled with the loop)."""
        self._loop = None
        for entry in self._slots.values():
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None

    def job_ids(self) -> list[str]:
        return list(self._slots)

    def next_run(self, job_id: str) -> float:
        """Unix time of the target's next slot."""
        return self._slots[job_id].due

    def sync(self, targets: list[Target]) -> tuple[int, int]:
        """Add, change and remove targets; returns (added or changed, removed)."""
        self._targets = list(targets)
        scope = self.scope
        self._token, since = scope.epoch() if scope is not None else (None, 0.0)
        wanted = {_job_id(a.name, s): (a, s, v) for a, s, v in targets if scope is None or scope.may_poll(a)}
        now = datetime.now(UTC)
        changed = 0
        for job_id, target in wanted.items():
            old = self._slots.get(job_id)
            if old is not None and old.target == target:
                continue
            asset, spec, variables = target
            due = first_run(job_id, spec.interval, _start(now, since, spec.interval), self.wave).timestamp()
            entry = _Slot(target, self._poll_job(asset, spec, variables), due)
            if old is not None:  # a changed target: its run in flight still counts (never two at once)
                entry.task = old.task
                if old.timer is not None:
                    old.timer.cancel()
            self._slots[job_id] = entry
            self._arm(job_id)
            changed += 1
        removed = [job_id for job_id in self._slots if job_id not in wanted]
        for job_id in removed:
            gone = self._slots.pop(job_id)
            if gone.timer is not None:
                gone.timer.cancel()
            asset, spec, _ = gone.target
            self._drop(job_id, asset.name, spec.name)
            if gone.task is not None and not gone.task.done():
                # its poll in flight records the target's series when it ends: left there, a shard's
                # member kept serving (and publishing, for cluster rules) a target moved to another
                # member for the 5-minute lookback
                gone.task.add_done_callback(functools.partial(self._dropped, job_id, asset.name, spec.name))
        if changed or removed:
            log.info("poll jobs: %d added or changed, %d removed, %d total", changed, len(removed), len(wanted))
        return changed, len(removed)

    def _drop(self, job_id: str, asset: str, collector: str) -> None:
        """A target's job was removed: its series and poll state go (unless it came back)."""
        if job_id not in self._slots:
            self._forget(asset, collector)

    def _forget(self, asset: str, collector: str) -> None:
        """A target is no longer polled here: its series and the poller's state of it go."""
        self.metrics.forget(asset, collector)
        self.poller.forget(asset, collector)

    def _dropped(self, job_id: str, asset: str, collector: str, _task: asyncio.Task[None]) -> None:
        self._drop(job_id, asset, collector)

    def _arm(self, job_id: str) -> None:
        loop, entry = self._loop, self._slots[job_id]
        if loop is None:
            return
        entry.timer = loop.call_at(loop.time() + max(entry.due - time.time(), 0.0), self._fire, job_id, entry)

    def _fire(self, job_id: str, entry: _Slot) -> None:
        """A target's slot came: poll it, unless its last poll still runs or the loop woke too late
        for the slot (both counted as skipped); then arm its next slot. Missed slots collapse into one."""
        if self._slots.get(job_id) is not entry:
            return  # the target changed or left since this timer was armed
        interval = entry.target[1].interval
        now = time.time()
        latest = entry.due + max(0, (now - entry.due) // interval) * interval
        entry.due = latest + interval
        self._arm(job_id)
        asset, spec, _ = entry.target
        if now - latest > max(1, int(interval / 2)):
            log.warning("poll %s/%s: slot missed by %.1fs (the agent was busy or frozen)", asset.name, spec.name,
                        now - latest)  # fmt: skip
        elif entry.task is not None and not entry.task.done():
            log.warning("poll %s/%s: skipped, its previous poll is still running", asset.name, spec.name)
        else:
            entry.task = asyncio.ensure_future(entry.run())
            entry.task.add_done_callback(_crashed)
            return
        self.metrics.skipped(asset.name, spec.name)

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
            self._forget(asset.name, spec.name)
        return False

    def _poll_job(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> Callable[[], Awaitable[None]]:
        job_id = _job_id(asset.name, spec)

        async def run() -> None:
            due = slot(job_id, spec.interval, time.time(), self.wave)
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
