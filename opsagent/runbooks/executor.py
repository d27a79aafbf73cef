"""The executor: fan a runbook out over its targets and record everything.

The executor alone owns concurrency (as Nornir's runner): a semaphore bounds targets in flight,
``serial`` cuts them into batches, ``max_fail_percentage`` stops after a bad batch. Steps of one
target run in order. Every target yields a :class:`TargetResult`; step results are written to the
store in small batches as they finish, so a run killed midway keeps what it did and is later
marked ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.collectors.ssh.connection import Pool
from opsagent.inventory.facts import unflatten
from opsagent.inventory.model import Asset, Inventory
from opsagent.inventory.resolve import GroupIndex
from opsagent.inventory.selectors import select
from opsagent.runbooks.context import (
    Approver,
    LazyFacts,
    Observer,
    RunbookError,
    RunRequest,
    redact_params,
    resolve_params,
)
from opsagent.runbooks.model import Runbook
from opsagent.runbooks.results import FAILED, SKIPPED, RunResult, TargetResult
from opsagent.runbooks.steps import StepRunner, TargetState
from opsagent.secrets import Redactor, SecretRef, is_credential_key, is_sensitive, references
from opsagent.store import inventory_repo
from opsagent.store import runbook_repo as runs
from opsagent.store.engine import Store, now

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.5  # a busy store (another writer) is retried, never given up on
# --retry-failed runs these targets again: failed, or never finished (interrupted, not reached, still "running")
RETRY_STATUSES = ("failed", "unreachable", "timeout", "interrupted", "skipped", "running")


def batch_sizes(serial: Any, total: int) -> list[int]:
    """Ansible's ``serial``: a count, a percentage, or a list of them (the last one repeats)."""
    if serial is None or total == 0:
        return [total] if total else []
    items = serial if isinstance(serial, list) else [serial]
    sizes: list[int] = []
    left = total
    index = 0
    while left > 0:
        item = str(items[min(index, len(items) - 1)])
        size = max(1, math.floor(total * int(item[:-1]) / 100)) if item.endswith("%") else int(item)
        size = min(size, left)
        sizes.append(size)
        left -= size
        index += 1
    return sizes


class Recorder:
    """Group commit of step and target rows.

    A target awaits :meth:`add_step` before its next step starts, so a step is committed before
    anything depends on it: an agent killed mid-run loses only the steps still in flight. One
    writer thread commits whatever accumulated while the previous commit ran, in one transaction,
    so 100 targets finishing steps at once cost one commit, not 100 (SQLite allows one writer).
    """

    def __init__(self, store: Store, run_id: int, writer: ThreadPoolExecutor) -> None:
        self.store = store
        self.run_id = run_id
        self.writer = writer
        self.steps: list[dict[str, Any]] = []
        self.targets: list[dict[str, Any]] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.pending = asyncio.Event()
        self.running: dict[str, str | None] = {}  # the step a target just started, not yet written

    def note_running(self, asset: str, path: str | None) -> None:
        """A target started a step: written with the next group commit (not awaited), so a run killed
        with SIGKILL still shows which step each target was in."""
        self.running[asset] = path
        self.pending.set()

    async def heartbeat(self, lease: float) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.writer, runs.heartbeat, self.store, self.run_id, lease)

    async def keep_lease(self, lease: float, stop: asyncio.Event) -> None:
        """Renew the run's lease every quarter of it until the run ends (a killed run's lease expires)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), lease / 4)
                return
            try:
                await self.heartbeat(lease)
            except Exception:
                log.exception("renewing the runbook run's lease failed (will retry)")

    def add_step(self, row: dict[str, Any]) -> asyncio.Future[None]:
        """Queue a step row; the future is done once the row is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.steps.append(row)
        self.waiters.append(done)
        self.pending.set()
        return done

    def add_target(self, row: dict[str, Any]) -> None:
        self.targets.append(row)
        self.pending.set()

    async def flush(self) -> None:
        steps, self.steps = self.steps, []
        targets, self.targets = self.targets, []
        waiters, self.waiters = self.waiters, []
        running, self.running = self.running, {}
        self.pending.clear()
        try:
            if steps or targets or running:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    self.writer, runs.add_results, self.store, self.run_id, steps, targets, running
                )
        except BaseException:
            # Keep the rows for the next attempt; their targets wait on (the store may be busy).
            self.steps[:0], self.targets[:0], self.waiters[:0] = steps, targets, waiters
            self.running = running | self.running
            self.pending.set()
            raise
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            waiting = asyncio.ensure_future(self.pending.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            stopping.cancel()
            try:
                await self.flush()
            except Exception:
                log.exception("recording runbook results failed (will retry)")
                await asyncio.sleep(RETRY_SECONDS)

    def release(self) -> None:
        """Unblock targets still waiting when the run ends without a final commit."""
        for waiter in self.waiters:
            if not waiter.done():
                waiter.cancel()


class Executor:
    def __init__(
        self,
        store: Store,
        inventory: Inventory,
        approver: Approver,
        observer: Observer | None = None,
        max_threads: int = 100,
        notify: NotifyConfig | None = None,
        secrets: Sequence[SecretRef | str] = (),
        lease: float | None = None,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.index = GroupIndex(inventory)
        self.approver = approver
        self.observer = observer or Observer()
        self.max_threads = max_threads
        self.notify = notify
        self.secrets = list(secrets)  # agent-wide references (API tokens) a run must never show
        self.lease = lease or float(os.environ.get("OPSAGENT_RUNBOOK_LEASE") or runs.DEFAULT_LEASE)

    def redactor(self, assets: list[Asset], params: dict[str, Any]) -> Redactor:
        """Resolve and register every credential the run may touch, before its first step: every
        target's credentials and secret vars, the notification receivers, the agent's tokens and
        sensitive parameters — so a step printing one (``echo $PG_PW``) stores ``***``."""
        redactor = Redactor()
        refs: list[SecretRef | str] = [*self.secrets, *references(self.notify)]
        for asset in assets:
            refs += references(asset.credentials, sensitive=True)
            refs += references(self.index.effective_vars(asset))
            refs += references([c.options for c in asset.collectors])
        for ref in dict.fromkeys(refs):
            redactor.add_ref(ref)
        for name, value in params.items():
            if value is not None and (is_sensitive(name) or is_credential_key(name)):
                redactor.add(*(map(str, value) if isinstance(value, list) else [str(value)]))
        return redactor

    def select_targets(self, request: RunRequest) -> list[Asset]:
        selector = request.selector or request.runbook.targets
        assets = select(self.inventory, selector, self.index)
        if request.retry_failed:
            previous = runs.last_run(self.store, request.runbook.name)
            if previous is None:
                raise RunbookError(f"--retry-failed: runbook {request.runbook.name} has no previous run")
            assets = [a for a in assets if a.name in self._unfinished(previous)]
        return assets

    def _unfinished(self, previous: dict[str, Any]) -> set[str]:
        """The targets of a previous run to retry: those that failed, and those it never finished
        (interrupted, or stopped before their turn), as Ansible's retry file lists failed hosts."""
        return {t["asset"] for t in previous["targets"] if t["status"] in RETRY_STATUSES}

    async def run(self, request: RunRequest) -> RunResult:
        runbook = request.runbook
        defaults, explicit = resolve_params(runbook, request.params)
        assets = self.select_targets(request)
        if not assets and not request.retry_failed:
            raise RunbookError(f"no asset matches {request.selector or runbook.targets!r}")
        previous = runs.last_run(self.store, runbook.name) if request.retry_failed else None
        redactor = await asyncio.to_thread(self.redactor, assets, defaults | explicit)
        run_id = runs.create_run(
            self.store,
            runbook=runbook.name,
            kind=runbook.kind.value,
            actor=request.actor,
            trigger=request.trigger,
            parameters=redactor.redact_data(redact_params(defaults | explicit)),
            selector=request.selector or runbook.targets,
            check_mode=request.check_mode,
            incident_id=request.incident["id"] if request.incident else None,
            retry_of=previous["id"] if previous else None,
            targets=[a.name for a in assets],
            lease=self.lease,
        )
        if request.on_started is not None:
            request.on_started(run_id)
        self.observer.run_started(run_id, runbook, [a.name for a in assets])
        concurrency = request.concurrency or runbook.concurrency
        threads = ThreadPoolExecutor(min(concurrency, self.max_threads), thread_name_prefix="opsagent-runbook")
        writer = ThreadPoolExecutor(1, thread_name_prefix="opsagent-runbook-store")
        recorder = Recorder(self.store, run_id, writer)
        stop = asyncio.Event()
        flusher = asyncio.create_task(recorder.run(stop))
        leaser = asyncio.create_task(recorder.keep_lease(self.lease, stop))
        pool = Pool()
        results: dict[str, TargetResult] = {}
        status, message = "succeeded", ""
        if request.retry_failed and not assets and previous is not None:
            message = f"nothing to retry: run #{previous['id']} left no failed or unfinished target"
        try:
            async with aiohttp.ClientSession() as session:
                runner = StepRunner(
                    runbook=runbook,
                    request=request,
                    run_id=run_id,
                    store=self.store,
                    pool=pool,
                    threads=threads,
                    session=session,
                    approver=self.approver,
                    observer=self.observer,
                    record=recorder.add_step,
                    started=recorder.note_running,
                    notify=self.notify,
                    redactor=redactor,
                )
                if request.require_approval and not request.check_mode:
                    approved, message = await runner.approve_run()
                    if not approved:
                        for asset in assets:
                            results[asset.name] = TargetResult(asset.name, SKIPPED, message)
                        status = "rejected"
                if status != "rejected":
                    results = await self._fan_out(runner, assets, defaults, explicit, concurrency, recorder)
                    status = "failed" if any(t.failed for t in results.values()) else "succeeded"
                    if len(results) < len(assets):
                        status = "failed"
        except asyncio.CancelledError:
            status, message = "interrupted", "the run was stopped (signal or shutdown)"
            raise
        finally:
            stop.set()
            await asyncio.gather(flusher, leaser, return_exceptions=True)
            result = RunResult(run_id, runbook.name, status, results, message)
            try:
                await recorder.flush()
                await asyncio.get_running_loop().run_in_executor(
                    writer, runs.finish_run, self.store, run_id, status, result.summary(), message
                )
            finally:
                recorder.release()
                writer.shutdown(wait=True)
                threads.shutdown(wait=False, cancel_futures=True)
                await asyncio.to_thread(pool.close)
        return result

    async def _fan_out(
        self,
        runner: StepRunner,
        assets: list[Asset],
        defaults: dict[str, Any],
        explicit: dict[str, Any],
        concurrency: int,
        recorder: Recorder,
    ) -> dict[str, TargetResult]:
        results: dict[str, TargetResult] = {}
        semaphore = asyncio.Semaphore(concurrency)
        runbook = runner.runbook
        offset = 0
        for size in batch_sizes(runbook.serial, len(assets)):
            batch = assets[offset : offset + size]
            offset += size

            async def one(asset: Asset) -> TargetResult:
                async with semaphore:
                    return await self._target(runner, asset, defaults, explicit, recorder)

            done = await asyncio.gather(*(one(a) for a in batch))
            for target in done:
                results[target.asset] = target
            failed = sum(1 for t in done if t.failed)
            pct = runbook.max_fail_percentage
            if pct is not None and batch and failed * 100 / len(batch) > pct and offset < len(assets):
                why = f"not run: {failed} of {len(batch)} targets of the previous batch failed"
                why += f" (max_fail_percentage {pct:g})"
                for asset in assets[offset:]:
                    results[asset.name] = TargetResult(asset.name, SKIPPED, why)
                    recorder.add_target(_target_row(results[asset.name], runner.redactor))
                break
        return results

    async def _target(
        self, runner: StepRunner, asset: Asset, defaults: dict[str, Any], explicit: dict[str, Any], recorder: Recorder
    ) -> TargetResult:
        started = time.monotonic()
        variables = self.index.effective_vars(asset)
        state = TargetState(
            asset=asset,
            variables=variables,
            context=self._context(runner, asset, variables, defaults, explicit),
        )
        try:
            result = await runner.run_target(state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in one target's handling must not sink the others
            log.exception("runbook %s on %s failed unexpectedly", runner.runbook.name, asset.name)
            result = TargetResult(asset.name, FAILED, f"internal error: {type(exc).__name__}: {exc}", state.steps)
        result.duration = time.monotonic() - started
        recorder.add_target(_target_row(result, runner.redactor))
        self.observer.target_done(result)
        return result

    def _context(
        self,
        runner: StepRunner,
        asset: Asset,
        variables: dict[str, Any],
        defaults: dict[str, Any],
        explicit: dict[str, Any],
    ) -> dict[str, Any]:
        request = runner.request
        store = self.store
        asset_info = {
            "name": asset.name,
            "kind": asset.kind.value,
            "address": asset.address,
            "target": asset.target,
            "port": asset.port,
            "groups": list(asset.groups),
            "tags": dict(asset.tags),
            "vars": variables,
        }
        params = {**defaults, **{k: v for k, v in variables.items() if k in defaults}, **explicit}
        return {
            **variables,
            **params,
            "params": params,
            "vars": variables,
            "asset": asset_info,
            "facts": LazyFacts(lambda: unflatten(inventory_repo.current_facts(store, asset.name))),
            "incident": request.incident,
            "run": {
                "id": runner.run_id,
                "runbook": runner.runbook.name,
                "check_mode": request.check_mode,
                "actor": request.actor,
            },
        }


def _target_row(result: TargetResult, redactor: Redactor) -> dict[str, Any]:
    result.message = redactor.redact(result.message)
    return {
        "asset": result.asset,
        "status": result.status,
        "message": result.message[:2000],
        "checks": result.check_counts(),
        "duration": round(result.duration, 6),
        "finished_at": now(),
    }


def runbook_targets(runbook: Runbook, inventory: Inventory, selector: str | None = None) -> list[str]:
    return [a.name for a in select(inventory, selector or runbook.targets)]
