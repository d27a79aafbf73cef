"""The alert engine: evaluation ticks → alert states → incidents → notifications.

Each tick evaluates every rule over the agent's series history (pure), applies the transitions to
the store (incidents and alert states, committed), and only then notifies. A poll result pokes the
engine so a threshold crossed by a fresh sample is acted on within a fraction of a second, not at
the next interval. Alert states and the notification log are in the store: after a restart the
engine carries on where it stopped, without opening duplicates or repeating notifications.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from sqlalchemy import delete, insert, select

from opsagent.alerts import alertmanager
from opsagent.alerts.notify.dispatcher import Dispatcher
from opsagent.alerts.notify.formats import NotifyAlert
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.promql.engine import Evaluator
from opsagent.alerts.rulefile import CompiledRule
from opsagent.alerts.silences import SilenceSet, ancestors
from opsagent.alerts.state import FIRING, AlertState, RuleState, Transition, step
from opsagent.incidents import repo
from opsagent.series import SeriesHistory
from opsagent.store import schema
from opsagent.store.engine import Store

log = logging.getLogger(__name__)


@dataclass
class EngineStats:
    evaluations: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    group_seconds: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    incidents_opened: int = 0
    last_tick_seconds: float = 0.0


@dataclass
class TickResult:
    transitions: list[Transition]
    opened: list[int]
    resolved: list[int]
    notified: int


class AlertEngine:
    def __init__(
        self,
        store: Store,
        history: SeriesHistory,
        rules: list[CompiledRule],
        config: NotifyConfig,
        parents: Callable[[], Mapping[str, list[str]]] = dict,
    ) -> None:
        self.store = store
        self.history = history
        self.rules = rules
        self.config = config
        self.parents = parents
        self.evaluator = Evaluator(history)
        self.states: dict[str, RuleState] = {r.name + "\x00" + r.group: RuleState() for r in rules}
        self.dispatcher = Dispatcher(store, config)
        self.stats = EngineStats()
        self._lock = asyncio.Lock()
        self._poked: asyncio.Event | None = None
        self._forward_sent: dict[str, float] = {}
        for rule in rules:
            history.need(rule.max_range())

    # -- restart ----------------------------------------------------------------------------------
    def restore(self) -> int:
        """Load alert states and notification memory from the store; returns the alerts restored."""
        by_rule: dict[str, str] = {r.name: r.name + "\x00" + r.group for r in self.rules}
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(schema.alert_states))]
        restored = 0
        for row in rows:
            key = by_rule.get(row["rule"])
            if key is None:
                continue  # its rule was removed: the alert is gone
            alert = AlertState.from_row(row)
            self.states[key].alerts[alert.fingerprint] = alert
            if alert.history:
                self.states[key].flaps[alert.fingerprint] = list(alert.history)
            restored += 1
        self.dispatcher.restore()
        return restored

    # -- evaluation (pure, in a worker thread) -------------------------------------------------
    def evaluate(self, t: float) -> list[Transition]:
        transitions: list[Transition] = []
        self.evaluator.stats.samples = 0
        self.stats.group_seconds = {}
        for rule in self.rules:
            started = time.perf_counter()
            rs = self.states[rule.name + "\x00" + rule.group]
            try:
                result = self.evaluator.evaluate(rule.expr, t)
                recovery = self.evaluator.evaluate(rule.recover, t) if rule.recover is not None else None
                if not isinstance(result, list) or (recovery is not None and not isinstance(recovery, list)):
                    raise ValueError("the expression returned a scalar")
                transitions += step(rule, rs, result, t, self.config.flapping, recovery)
            except Exception as exc:  # one broken rule never stops the others
                self.stats.failures[rule.name] = self.stats.failures.get(rule.name, 0) + 1
                log.warning("rule %s failed: %s", rule.name, exc)
            spent = time.perf_counter() - started
            self.stats.group_seconds[rule.group] = self.stats.group_seconds.get(rule.group, 0.0) + spent
        self.stats.evaluations += 1
        self.stats.samples += self.evaluator.stats.samples
        return transitions

    def active_alerts(self) -> list[tuple[CompiledRule, AlertState]]:
        return [
            (rule, alert)
            for rule in self.rules
            for alert in self.states[rule.name + "\x00" + rule.group].alerts.values()
        ]

    # -- applying to the store (worker thread) ---------------------------------------------------
    def _muting(self, silences: SilenceSet) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(fingerprint → why muted, parent incident fingerprint → suppressed alert names)."""
        firing = [(r, a) for r, a in self.active_alerts() if a.state == FIRING]
        down: dict[str, AlertState] = {}
        for rule, alert in firing:
            if rule.suppresses_dependents and alert.labels.get("asset"):
                down.setdefault(alert.labels["asset"], alert)
        parents = self.parents() if down else {}
        muted: dict[str, str] = {}
        suppressed: dict[str, list[str]] = {}
        for _rule, alert in firing:
            silence = silences.muted_by(alert.labels)
            if silence is not None:
                muted[alert.fingerprint] = f"silence #{silence}"
                continue
            asset = alert.labels.get("asset")
            if not asset or not down:
                continue
            for parent in sorted(ancestors(asset, parents)):
                if parent in down:
                    muted[alert.fingerprint] = f"parent {parent} is down"
                    suppressed.setdefault(down[parent].fingerprint, []).append(f"{alert.rule} on {asset}")
                    break
        return muted, suppressed

    def apply(  # noqa: C901 - the tick's store side in one readable place
        self,
        transitions: list[Transition],
        silences: SilenceSet,
        t: float,
    ) -> TickResult:
        muted, suppressed = self._muting(silences)
        opened: list[int] = []
        reopen = self.config.evaluation.reopen_within
        rule_by_name = {r.name: r for r in self.rules}
        for rule, alert in self.active_alerts():
            if alert.state != FIRING or alert.incident_id is not None or alert.fingerprint in muted:
                continue
            incident_id, action = repo.fire(
                self.store,
                repo.AlertInput(
                    alert.fingerprint, alert.rule, alert.labels, alert.annotations, alert.value, rule.resolve
                ),
                reopen,
            )
            alert.incident_id = incident_id
            if action != "repeated":
                opened.append(incident_id)
            if alert.flapping:
                repo.set_flapping(self.store, incident_id, True)
        by_fp = {a.fingerprint: a for _r, a in self.active_alerts()}
        for parent_fp, names in suppressed.items():
            parent = by_fp.get(parent_fp)
            if parent is not None and parent.incident_id is not None:
                repo.add_suppressed(self.store, parent.incident_id, names)
        resolved: list[int] = []
        for tr in transitions:
            tr_incident = tr.alert.incident_id
            if tr_incident is None:
                continue
            if tr.kind == "resolved":
                tr_rule = rule_by_name.get(tr.alert.rule)
                if repo.clear(self.store, tr_incident, tr_rule.resolve if tr_rule else "auto") == "resolved":
                    resolved.append(tr_incident)
            elif tr.kind in ("flapping_started", "flapping_stopped"):
                repo.set_flapping(self.store, tr_incident, tr.kind == "flapping_started")
        self._save_states()
        self.stats.incidents_opened += len(opened)
        self._muted = muted
        return TickResult(transitions, opened, resolved, 0)

    def _save_states(self) -> None:
        rows: list[dict[str, Any]] = []
        for rule in self.rules:
            rs = self.states[rule.name + "\x00" + rule.group]
            for alert in rs.alerts.values():
                row = alert.to_row()
                row["history"] = list(rs.flaps.get(alert.fingerprint, []))
                rows.append(row)
        with self.store.transaction() as conn:
            conn.execute(delete(schema.alert_states))
            if rows:
                conn.execute(insert(schema.alert_states), rows)

    # -- notifications ------------------------------------------------------------------------
    def _notify_lists(self, transitions: list[Transition]) -> tuple[list[NotifyAlert], list[NotifyAlert]]:
        muted = getattr(self, "_muted", {})
        firing = [
            NotifyAlert(
                a.fingerprint,
                a.labels,
                a.annotations,
                "firing",
                a.fired_at or a.active_at,
                None,
                a.incident_id,
                a.value,
            )
            for _r, a in self.active_alerts()
            if a.state == FIRING and not a.flapping and a.fingerprint not in muted and a.incident_id is not None
        ]
        resolved = [
            NotifyAlert(
                tr.alert.fingerprint,
                tr.alert.labels,
                tr.alert.annotations,
                "resolved",
                tr.alert.fired_at or tr.alert.active_at,
                tr.at,
                tr.alert.incident_id,
                tr.alert.value,
            )
            for tr in transitions
            if tr.kind == "resolved"
        ]
        return firing, resolved

    # -- the tick -------------------------------------------------------------------------------
    async def tick(self, t: float | None = None) -> TickResult:
        async with self._lock:
            started = time.perf_counter()
            now = time.time() if t is None else t
            transitions = await asyncio.to_thread(self.evaluate, now)
            silences = await asyncio.to_thread(SilenceSet.active, self.store)
            result = await asyncio.to_thread(self.apply, transitions, silences, now)
            firing, resolved = self._notify_lists(transitions)
            due = self.dispatcher.plan_all(firing, resolved, now)
            sent = await self.dispatcher.dispatch(due, now) if due else []
            result.notified = sum(1 for _g, ok, _e in sent if ok)
            await self._forward(firing, resolved, now)
            self.stats.last_tick_seconds = time.perf_counter() - started
            return result

    async def _forward(self, firing: list[NotifyAlert], resolved: list[NotifyAlert], now: float) -> None:
        """Send alerts to the configured Alertmanagers: changes at once, the rest every resend_interval."""
        if not self.config.alertmanagers:
            return
        for target in self.config.alertmanagers:
            due = [
                a
                for a in firing
                if now - self._forward_sent.get(target.url + a.fingerprint, -1e18) >= target.resend_interval
            ]
            batch = due + resolved
            if not batch:
                continue
            ok, error = await alertmanager.post_alerts(target, batch, self.config.evaluation.external_url, now)
            if ok:
                for a in due:
                    self._forward_sent[target.url + a.fingerprint] = now
                for a in resolved:
                    self._forward_sent.pop(target.url + a.fingerprint, None)
            else:
                log.warning("forwarding to Alertmanager %s failed: %s", target.url, error)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every evaluation interval, and soon after a poke (a new poll result)."""
        self._poked = asyncio.Event()
        interval = self.config.evaluation.interval
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("alert evaluation tick failed")
            poked = asyncio.create_task(self._poked.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({poked, stopped}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for task in (poked, stopped):
                task.cancel()
            self._poked.clear()
            await asyncio.sleep(0.05)  # batch the polls that land together into one tick

    def poke(self) -> None:
        if self._poked is not None:
            self._poked.set()

    # -- Alertmanager webhooks ------------------------------------------------------------------
    def receive_alertmanager(self, payload: Mapping[str, Any]) -> dict[str, list[int]]:
        """Open/resolve incidents for the alerts of an Alertmanager webhook (same dedup as ours)."""
        return alertmanager.apply_webhook(self.store, payload, self.config.evaluation.reopen_within)

    # -- self-metrics ---------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        duration = Metric(
            "opsagent_rule_group_last_duration_seconds", "Time spent evaluating each rule group (last tick).", "gauge"
        )
        for group, seconds in stats.group_seconds.items():
            duration.add_sample("opsagent_rule_group_last_duration_seconds", {"rule_group": group}, seconds)
        evals = Metric("opsagent_rule_evaluations", "Evaluation ticks run.", "counter")
        evals.add_sample("opsagent_rule_evaluations_total", {}, stats.evaluations)
        failures = Metric("opsagent_rule_evaluation_failures", "Rule evaluations that failed, by rule.", "counter")
        for rule in self.rules:
            failures.add_sample(
                "opsagent_rule_evaluation_failures_total", {"rule": rule.name}, stats.failures.get(rule.name, 0)
            )
        tick = Metric("opsagent_alert_tick_duration_seconds", "Duration of the last evaluation tick.", "gauge")
        tick.add_sample("opsagent_alert_tick_duration_seconds", {}, stats.last_tick_seconds)
        alerts = Metric("opsagent_alerts", "Active alerts by state.", "gauge")
        counts = {"pending": 0, "firing": 0}
        for _r, a in self.active_alerts():
            counts[a.state] = counts.get(a.state, 0) + 1
        for state, n in counts.items():
            alerts.add_sample("opsagent_alerts", {"state": state}, n)
        sent = Metric("opsagent_notifications", "Notifications sent, by outcome.", "counter")
        sent.add_sample("opsagent_notifications_total", {"outcome": "ok"}, self.dispatcher.sent)
        sent.add_sample("opsagent_notifications_total", {"outcome": "failed"}, self.dispatcher.failed)
        yield from (duration, evals, failures, tick, alerts, sent)
