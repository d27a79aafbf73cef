"""The ``snmp`` collector: one poll = one GET of scalars + GETBULK walks of the profile's columns.

Per device it keeps a :class:`DeviceState` (adapted max-repetitions, cached lookup and identity
tables) and a lock, so two polls of one device never overlap even across collector specs. The
whole poll runs under a deadline; every request has a timeout and retries.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from opsagent.collectors.base import CollectResult, Outcome, Sample
from opsagent.collectors.snmp import convert, ident
from opsagent.collectors.snmp.options import Metric, SnmpOptions, SnmpSettings
from opsagent.collectors.snmp.session import (
    DeviceState,
    Value,
    classify,
    connect,
    get_many,
    open_session,
    walk_column,
)
from opsagent.collectors.snmp.workers import WorkerPool
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, CollectorSpec

NAME = "snmp"
HELP = {
    "snmp_scrape_duration_seconds": "Total SNMP time scrape took (walk and processing).",
    "snmp_scrape_pdus_returned": "PDUs returned from walk.",
    "snmp_scrape_max_repetitions": "GETBULK max-repetitions currently used for this device (adapts).",
}
_GET_CHUNK = 20  # OIDs per GET: small enough for any agent's PDU size
_OPTIONS_KEPT = 256  # distinct option sets validated and kept
_SEEN_KEPT = 100_000  # options objects recognised by identity (one per target)


class Plan(NamedTuple):
    metrics: list[Metric]
    columns: list[str]  # table columns walked
    lookups: list[str]  # label tables walked (cached)
    slow: set[str]  # columns on the slow cadence


class SnmpCollector:
    name = NAME
    options_model = SnmpOptions

    def __init__(self, roots: list[Path] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._roots = roots
        self._clock = clock  # monotonic seconds: the ages of cached tables (a test passes its own)
        self._library: dict[str, SnmpOptions] | None = None
        self._state: dict[str, DeviceState] = {}
        self._workers: int | None = None
        self._validated: dict[str, SnmpOptions] = {}
        # id of an options dict -> (that dict, its validated options): a target polls with the same
        # (resolved) options object poll after poll, so most polls skip even the JSON cache key
        self._seen: dict[int, tuple[dict[str, Any], SnmpOptions]] = {}
        self._plans: dict[int, tuple[SnmpOptions, Plan]] = {}  # id of options -> what a poll walks
        self._pool: WorkerPool | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def use_content_roots(self, roots: list[Path]) -> None:
        """Content roots whose ``collectors/snmp/*.yaml`` ``include`` may name (set by the App)."""
        self._roots, self._library = list(roots), None
        self._plans.clear()  # their metrics came from the old library
        if self._pool is not None:  # reloaded content: fresh workers read the profiles again
            self._pool.stop()
            self._pool = WorkerPool(len(self._pool.workers), self._roots)

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Agent-wide settings (``collector_settings: {snmp: {...}}``), see :class:`SnmpSettings`.
        Raises ValueError (pydantic's) on an invalid setting."""
        self._workers = SnmpSettings.model_validate(dict(settings)).workers

    def use_workers(self) -> int:
        """``serve``: poll in worker processes from now on (``workers``; default one per CPU when
        there are several). Returns how many."""
        count = self._workers
        if count is None:
            cpus = os.cpu_count() or 1
            count = cpus if cpus > 1 else 0
        if count and self._pool is None:
            self._pool = WorkerPool(count, self._roots)
        return count

    def stop_workers(self) -> None:
        """Stop the worker processes (they also end when serve's pipes close)."""
        if self._pool is not None:
            self._pool.stop()
            self._pool = None

    @property
    def help(self) -> dict[str, str]:
        out = dict(HELP)
        for profile in self.library().values():
            out.update({m.name: m.help for m in profile.metrics if m.help})
        return out

    def library(self) -> dict[str, SnmpOptions]:
        if self._library is None:
            from opsagent.collectors.snmp.library import load_library

            self._library = load_library(self._roots)
        return self._library

    def metrics_of(self, options: SnmpOptions) -> list[Metric]:
        """The profile's metrics plus those of its includes (recursively, each once)."""
        seen: set[str] = set()
        out: dict[tuple[str, str], Metric] = {}

        def add(opts: SnmpOptions) -> None:
            for name in opts.include:
                if name in seen:
                    continue
                seen.add(name)
                found = self.library().get(name)
                if found is None:
                    raise CollectError("config", f"snmp profile includes unknown profile {name!r}")
                add(found)
            for m in opts.metrics:
                out[(m.name, m.oid)] = m

        add(options)
        return list(out.values())

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        if self._pool is not None:
            return await self._pool.collect(asset, spec)
        return await self.collect_here(asset, spec)

    async def collect_here(self, asset: Asset, spec: CollectorSpec) -> CollectResult:
        """The poll itself, in this process."""
        options = self._options(spec.options)
        deadline = options.deadline or spec.effective_timeout * 0.95
        lock = self._locks.setdefault(asset.name, asyncio.Lock())
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline), lock:
                result = await self._poll(asset, options, spec.interval)
        except TimeoutError:
            return CollectResult.failure(
                asset.name, NAME, Outcome.TIMEOUT, "deadline", f"poll not finished within its {deadline:g}s deadline"
            )
        except CollectError as exc:
            return CollectResult.failure(asset.name, NAME, Outcome.FAILED, exc.reason, str(exc))
        result.duration = time.perf_counter() - started
        result.samples.append(Sample.of("snmp_scrape_duration_seconds", result.duration))
        return result

    def _options(self, raw: dict[str, Any]) -> SnmpOptions:
        """The validated options; the same options (every device of a profile, poll after poll)
        are validated once: pydantic took ~2 ms of each poll (the profile's whole metric list)."""
        seen = self._seen.get(id(raw))
        if seen is not None and seen[0] is raw:
            return seen[1]
        key = json.dumps(raw, sort_keys=True, default=str)
        hit = self._validated.get(key)
        if hit is None:
            if len(self._validated) >= _OPTIONS_KEPT:
                self._validated.clear()
            hit = self._validated[key] = SnmpOptions.model_validate(raw)
        if len(self._seen) >= _SEEN_KEPT:
            self._seen.clear()
        self._seen[id(raw)] = (raw, hit)
        return hit

    def _plan(self, options: SnmpOptions) -> Plan:
        """The metrics of a profile (with its includes) and the columns a poll walks, worked out once
        per validated options object (the same for every device of a profile)."""
        hit = self._plans.get(id(options))
        if hit is not None and hit[0] is options:
            return hit[1]
        metrics = self.metrics_of(options)
        columns, lookups = convert.walk_roots(metrics)
        slow = {m.oid for m in metrics if m.slow and m.indexes}
        plan = Plan(metrics, columns, lookups, slow)
        if len(self._plans) >= _OPTIONS_KEPT:
            self._plans.clear()
        self._plans[id(options)] = (options, plan)
        return plan

    async def _poll(self, asset: Asset, options: SnmpOptions, interval: float) -> CollectResult:
        metrics, columns, lookups, slow = self._plan(options)
        state = self._state.setdefault(asset.name, DeviceState(options.max_repetitions))
        session = open_session(asset, options, state.max_repetitions)
        now = self._clock()
        identify = options.identify and (state.identity is None or now - state.identity[0] > options.identify_interval)
        try:
            await connect(session, options.retries)
            scalars = await self._scalars(session, metrics, options, state)
            if identify:  # vendor model/serial scalars: only with the (hourly) identification walk
                scalars |= await get_many(session, list(ident.VENDOR_SCALARS.values()), options.retries, state)
            data: dict[str, dict[str, Value]] = {}
            count = len(scalars)
            fast = [c for c in columns if c not in slow]
            for oid in dict.fromkeys(fast + (ident.IDENTITY_COLUMNS if identify else [])):
                data[oid] = await walk_column(session, oid, options.retries, state)
                count += len(data[oid])
            tables = {oid: data[oid] for oid in fast}
            for oid in (c for c in columns if c in slow):
                walked = data.get(oid)
                data[oid], fetched = await self._slow(session, oid, options, state, tables, walked, now, interval)
                count += fetched
            for oid in lookups:
                data[oid] = await self._lookup(session, oid, options, state, data, now)
        except CollectError:
            raise
        except (OSError, TimeoutError, Exception) as exc:
            reason, message = classify(exc)
            outcome = Outcome.TIMEOUT if reason == "timeout" else Outcome.FAILED
            return CollectResult.failure(asset.name, NAME, outcome, reason, message)
        for column_oid, rows in ((o, r) for o, r in scalars_as_columns(scalars).items()):
            data.setdefault(column_oid, rows)
        cache = _label_cache(state, metrics, data)
        samples = [s for m in metrics for s in convert.metric_samples(m, data, cache)]
        samples.append(Sample.of("snmp_scrape_pdus_returned", count))
        samples.append(Sample.of("snmp_scrape_max_repetitions", state.max_repetitions))
        if options.identify:
            if identify:
                state.identity = (now, ident.identify(scalars, data))
            facts = dict(state.identity[1]) if state.identity else {}
            facts["system"] = ident.system_facts(scalars)  # cheap: fresh every poll
            return CollectResult(asset=asset.name, collector=NAME, facts=facts, samples=samples)
        return CollectResult(asset=asset.name, collector=NAME, samples=samples)

    async def _slow(
        self,
        session: Any,
        oid: str,
        options: SnmpOptions,
        state: DeviceState,
        tables: dict[str, dict[str, Value]],
        walked: dict[str, Value] | None,
        now: float,
        interval: float,
    ) -> tuple[dict[str, Value], int]:
        """A ``slow`` column: its last values while they stay younger than ``slow_max_age`` until
        the next poll (``interval`` later) and a column of its table walked this poll has the rows
        it had then (an interface added or removed re-walks it), so the exposed series are those
        of a full walk. ``tables``: the fast columns walked this poll; ``walked``: the column when the
        identification walk already fetched it. Returns (rows, varbinds fetched)."""
        cached = state.slow.get(oid)
        siblings = _siblings(oid, tables)
        rows_now = frozenset(siblings) if siblings is not None else None
        if walked is not None:
            state.slow[oid] = (now, walked, rows_now)
            return walked, 0  # counted with the identification walk
        if cached is not None and now - cached[0] + interval <= options.slow_max_age and cached[2] == rows_now:
            return cached[1], 0
        rows = await walk_column(session, oid, options.retries, state)
        state.slow[oid] = (now, rows, rows_now)
        return rows, len(rows)

    async def _scalars(
        self, session: Any, metrics: list[Metric], options: SnmpOptions, state: DeviceState
    ) -> dict[str, Value]:
        oids = list(dict.fromkeys([*ident.SYSTEM.values(), *(m.oid + ".0" for m in metrics if not m.indexes)]))
        out: dict[str, Value] = {}
        for i in range(0, len(oids), _GET_CHUNK):
            out |= await get_many(session, oids[i : i + _GET_CHUNK], options.retries, state)
        return out

    async def _lookup(
        self, session: Any, oid: str, options: SnmpOptions, state: DeviceState, data: dict[str, Any], now: float
    ) -> dict[str, Value]:
        """Label tables (ifName, ifDescr…) change rarely: re-walked only after ``lookup_cache``, or
        when a row of a walked table has an index the cached table lacks (a new interface)."""
        cached = state.lookups.get(oid)
        if cached is not None and now - cached[0] < options.lookup_cache and not _new_rows(data, cached[1]):
            return cached[1]
        rows = await walk_column(session, oid, options.retries, state)
        state.lookups[oid] = (now, rows)
        return rows


def _new_rows(data: dict[str, dict[str, Value]], cached: dict[str, Value]) -> bool:
    for rows in data.values():
        for suffix in rows:
            first = suffix.split(".", 1)[0]
            if first not in cached and suffix not in cached:
                return True
        break  # one walked column is enough: rows of one table share their indexes
    return False


def _siblings(oid: str, data: dict[str, dict[str, Value]]) -> dict[str, Value] | None:
    """A column of the same table walked this poll (the rows the table has now), if any."""
    entry = oid.rsplit(".", 1)[0] + "."
    for other, rows in data.items():
        if other.startswith(entry) and other.count(".") == oid.count("."):
            return rows
    return None


def _label_cache(state: DeviceState, metrics: list[Metric], data: dict[str, dict[str, Value]]) -> convert.IndexCache:
    """The device's row-label cache, kept across polls while every column a lookup reads is the
    same object as last poll (cached lookup tables); a re-walked lookup table starts a new one."""
    token = tuple(data.get(oid) for oid in dict.fromkeys(lk.oid for m in metrics for lk in m.lookups))
    kept = state.labels
    if kept is not None and len(kept[0]) == len(token) and all(a is b for a, b in zip(kept[0], token, strict=True)):
        return kept[1]  # type: ignore[no-any-return]
    cache: convert.IndexCache = {}
    state.labels = (token, cache)
    return cache


def scalars_as_columns(scalars: dict[str, Value]) -> dict[str, dict[str, Value]]:
    """``1.3.6.1.2.1.1.3.0`` → column ``1.3.6.1.2.1.1.3`` row ``0``, so scalars render like columns."""
    out: dict[str, dict[str, Value]] = {}
    for oid, value in scalars.items():
        base, _, last = oid.rpartition(".")
        out.setdefault(base, {})[last] = value
    return out
