"""Traps → events → incidents inside ``opsagent serve``.

Every trap is stored as an event (``opsagent events``); trap rules (``alerts/traps.yaml``) turn the
ones they match into alerts that enter the alert engine like Alertmanager's webhook alerts do — same
silences, parent suppression, label-fingerprint dedup and routes — and every trap that acted on an
incident is written on its timeline. Traps queue in memory and are handled in batches off the
receiver's callback, so a trap storm costs one store transaction and one engine tick per batch and
never blocks UDP reception; beyond the queue's bound they are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric

from opsagent.alerts.state import AlertState, fingerprint
from opsagent.incidents import repo as incidents
from opsagent.store.engine import Store
from opsagent.store.inventory_repo import current_facts
from opsagent.traps.match import TrapAction, actions_for, interface_index, trap_context
from opsagent.traps.receiver import TrapEvent
from opsagent.traps.repo import record_event
from opsagent.traps.rules import TrapRule

log = logging.getLogger(__name__)
SOURCE = "snmp_trap"
BATCH = 500
FACTS_TTL = 60.0
SWEEP_SECONDS = 15.0

Deliver = Callable[[list[Mapping[str, Any]], str], Awaitable[object]]


@dataclass
class Routed:
    """One trap after storing and matching (built in a worker thread)."""

    event: TrapEvent
    event_id: int
    asset: str | None
    actions: list[TrapAction]


@dataclass
class RouterStats:
    received: int = 0
    dropped: int = 0
    unmatched: int = 0
    actions: dict[str, int] = field(default_factory=lambda: {"firing": 0, "resolved": 0})
    failed_batches: int = 0


class TrapRouter:
    def __init__(
        self,
        store: Store,
        rules: list[TrapRule],
        sources: Callable[[], Mapping[str, str]],
        deliver: Deliver,
        external: Callable[[], Mapping[str, AlertState]],
        queue_size: int = 10_000,
    ) -> None:
        self.store = store
        self.rules = rules
        self.sources = sources  # sender address → asset (refreshed by the caller with the inventory)
        self.deliver = deliver
        self.external = external
        self.queue: asyncio.Queue[TrapEvent] = asyncio.Queue(queue_size)
        self.stats = RouterStats()
        self._facts: dict[str, tuple[float, dict[str, dict[str, str]]]] = {}
        self.expiring = {r.alert: r.resolve_after for r in rules if r.alert and r.resolve_after}

    def replace_rules(self, rules: list[TrapRule]) -> None:
        """Reload: route the next traps by ``rules``."""
        self.rules = rules
        self.expiring = {r.alert: r.resolve_after for r in rules if r.alert and r.resolve_after}

    # -- intake (receiver callback, on the event loop) ------------------------------------------
    def submit(self, event: TrapEvent) -> None:
        self.stats.received += 1
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("trap queue full: trap %s from %s dropped", event.trap_name or event.trap_oid, event.source)

    # -- the worker --------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        last_sweep = time.monotonic()
        while not stop.is_set():
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout=1.0)
            except TimeoutError:
                first = None
            batch = [first] if first is not None else []
            while batch and len(batch) < BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                if batch:
                    await self.handle(batch)
                if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    await self.sweep(time.time())
            except Exception:  # the store or engine failed this batch: keep receiving
                self.stats.failed_batches += 1
                log.exception("%d trap(s) not routed", len(batch))

    async def handle(self, batch: list[TrapEvent]) -> list[Routed]:
        routed = await asyncio.to_thread(self._store_and_match, batch)
        before = dict(self.external())  # dict() copies in one step under the GIL
        alerts: dict[str, Mapping[str, Any]] = {}
        notes: list[tuple[Routed, str, str]] = []  # (trap, fingerprint, firing | resolved)
        for item in routed:
            for action in item.actions:
                self.stats.actions[action.status] += 1
                if action.status == "firing":
                    fp = fingerprint(action.labels)
                    alerts[fp] = {"labels": action.labels, "annotations": action.annotations, "status": "firing"}
                    notes.append((item, fp, "firing"))
                    continue
                for fp, alert in _clearable(before, action.labels).items():
                    alerts.setdefault(fp, {"labels": alert.labels, "annotations": alert.annotations})
                    alerts[fp] = {**alerts[fp], "status": "resolved"}
                    notes.append((item, fp, "resolved"))
        if alerts:
            await self.deliver(list(alerts.values()), SOURCE)
        after = dict(self.external())
        await asyncio.to_thread(self._timeline, notes, before, after)
        return routed

    def _store_and_match(self, batch: list[TrapEvent]) -> list[Routed]:
        sources = self.sources()
        out = []
        for event in batch:
            asset = sources.get(event.source)
            event_id = record_event(self.store, event, asset)
            context = trap_context(event, asset, self._interfaces(asset) if asset else None)
            actions = actions_for(self.rules, context)
            if not actions:
                self.stats.unmatched += 1
            log.info(
                "trap %s from %s (%s): %s",
                event.trap_name or event.trap_oid,
                event.source,
                asset or "unknown asset",
                ", ".join(f"{a.status} {a.labels['alertname']}" for a in actions) or "event only",
            )
            out.append(Routed(event, event_id, asset, actions))
        return out

    def _interfaces(self, asset: str) -> dict[str, dict[str, str]]:
        cached = self._facts.get(asset)
        if cached is None or time.monotonic() - cached[0] > FACTS_TTL:
            cached = (time.monotonic(), interface_index(current_facts(self.store, asset)))
            self._facts[asset] = cached
        return cached[1]

    def _timeline(
        self, notes: list[tuple[Routed, str, str]], before: Mapping[str, AlertState], after: Mapping[str, AlertState]
    ) -> None:
        seen: set[str] = set()
        for item, fp, status in notes:
            alert = after.get(fp) if status == "firing" else before.get(fp)
            if alert is None or alert.incident_id is None:
                continue  # muted (silence, maintenance, parent down): the trap stays an event
            had = before.get(fp)
            repeated = status == "firing" and ((had is not None and had.incident_id is not None) or fp in seen)
            seen.add(fp)
            event = item.event
            name = event.trap_name or event.trap_oid
            verb = {"firing": "repeated onto" if repeated else "opened", "resolved": "cleared"}[status]
            incidents.record_trap(
                self.store,
                alert.incident_id,
                f"trap {name} from {event.source} {verb} the incident",
                repeated,
                event_id=item.event_id,
                trap=name,
                trap_oid=event.trap_oid,
                source=event.source,
                varbinds=event.varbinds,
            )

    async def sweep(self, now: float) -> int:
        """Resolve trap alerts whose rule has ``resolve_after`` and that saw no repeat for that long."""
        if not self.expiring:
            return 0
        due: list[Mapping[str, Any]] = [
            {"labels": a.labels, "annotations": a.annotations, "status": "resolved"}
            for a in dict(self.external()).values()
            if (after := self.expiring.get(a.labels.get("alertname", "")))
            and now - (a.last_seen or a.active_at) >= after
        ]
        if due:
            await self.deliver(due, SOURCE)
        return len(due)

    # -- self-metrics ------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        s = self.stats
        received = Metric("opsagent_traps_received", "SNMP traps and informs received.", "counter")
        received.add_sample("opsagent_traps_received_total", {}, s.received)
        dropped = Metric("opsagent_traps_dropped", "Traps dropped because the routing queue was full.", "counter")
        dropped.add_sample("opsagent_traps_dropped_total", {}, s.dropped)
        unmatched = Metric("opsagent_traps_unmatched", "Traps no trap rule matched (events only).", "counter")
        unmatched.add_sample("opsagent_traps_unmatched_total", {}, s.unmatched)
        actions = Metric("opsagent_trap_rule_actions", "Alerts fired or cleared by trap rules.", "counter")
        for status, n in s.actions.items():
            actions.add_sample("opsagent_trap_rule_actions_total", {"action": status}, n)
        failed = Metric("opsagent_trap_batches_failed", "Trap batches the store or engine failed.", "counter")
        failed.add_sample("opsagent_trap_batches_failed_total", {}, s.failed_batches)
        yield from (received, dropped, unmatched, actions, failed)


def _clearable(active: Mapping[str, AlertState], wanted: Mapping[str, str]) -> dict[str, AlertState]:
    """Active external alerts a clearing trap resolves: same alertname and every label it names."""
    return {
        fp: a
        for fp, a in active.items()
        if all(a.labels.get(k) == v for k, v in wanted.items()) and a.state == "firing"
    }
