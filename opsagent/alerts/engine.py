"""The alert engine: evaluation ticks → alert states → incidents → notifications.

Each tick evaluates every rule over the agent's series history (pure), applies the transitions to
the store (incidents and alert states, committed), and only then notifies. A poll result pokes the
engine so a threshold crossed by a fresh sample is acted on within a fraction of a second, not at
the next interval. Alert states and the notification log are in the store: after a restart the
engine carries on where it stopped, without opening duplicates or repeating notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.metrics_core import Metric
from sqlalchemy import bindparam, delete, insert, select, update

from opsagent.alerts import alertmanager
from opsagent.alerts.memo import AssetMemo
from opsagent.alerts.notify.dispatcher import Dispatcher
from opsagent.alerts.notify.formats import NotifyAlert
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.promql.ast import VectorSelector, walk
from opsagent.alerts.promql.engine import Element, Evaluator
from opsagent.alerts.promql.locality import local_to, steady
from opsagent.alerts.rulefile import RESOLVE, SUPPRESSES, CompiledRule
from opsagent.alerts.silences import SilenceSet, ancestors
from opsagent.alerts.state import (
    EXTERNAL,
    FIRING,
    PENDING,
    AlertState,
    RuleState,
    Transition,
    fingerprint,
    flap_config,
    step,
)
from opsagent.cluster.alertstates import save_member_states
from opsagent.incidents import repo
from opsagent.series import SeriesHistory
from opsagent.store import schema
from opsagent.store.engine import Store

log = logging.getLogger(__name__)
# Poll-driven ticks come at most this often: poll results landing within it of the last such tick make
# one tick over all their assets. One result after a quiet spell is evaluated at once. A scoped tick's
# cost is mostly per rule, not per asset (8 assets in one tick cost about half as much per asset as 8
# ticks), so at 100 hosts polled once a minute this took serve from 5.82 to 4.58 ms of CPU per poll
# (bench/bench_ssh_serve.py, back to back), for at most 5 s more between a poll and its alert, which
# Prometheus users know as the 15 s-1 min evaluation interval.
POKE_BATCH_SECONDS = 5.0
POKE_CPU_SHARE = 0.02  # of one core, at most, for ticks brought forward by poll results
# Alert state rows whose only change is ``value``/``last_seen`` (they move at every evaluation) are
# rewritten at most this often; every other change is written at the tick that makes it, and all of
# it when the engine stops. After a crash a restored alert's last_seen is at most this much older.
STATE_REFRESH_SECONDS = 60.0
_MOVING = ("value", "last_seen")
_ROW, _MOVING_ONLY = "row", "moving"  # what of a state row a save writes
# The periodic refresh of value/last_seen: an UPDATE of two columns, not the row's delete and insert
# (which serialised its labels, annotations and history again: most of a full tick's store work).
_REFRESH = (
    update(schema.alert_states)
    .where(schema.alert_states.c.fingerprint == bindparam("b_fp"))
    .values({k: bindparam(f"b_{k}") for k in _MOVING})
)
# A poll's tick evaluates on the event loop when its assets' evaluation took at most this last time: the hop
# to a worker thread and back cost more CPU (~0.1 ms: two thread wake-ups) than evaluating one host's rules.
INLINE_SECONDS = 0.002
# An alert deadline (a ``for`` that ends) wakes the evaluation this long after it, so the clock has passed it.
DEADLINE_SLACK = 0.05


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
        # Rules in file and group order (the order they are evaluated in): recording rules write
        # their series into the history, where the rules after them read them in the same tick.
        self.order = rules
        self.rules = [r for r in rules if not r.record]
        self.recorded: dict[str, list[tuple[dict[str, str], float]]] = {}  # record name → last result
        self.config = config
        self.parents = parents
        # impact/urgency/priority of a new incident from its labels (serve sets the policy's)
        self.classify: repo.Classifier | None = None
        self.evaluator = Evaluator(history)
        self.states: dict[str, RuleState] = {r.name + "\x00" + r.group: RuleState() for r in rules}
        self.dispatcher = Dispatcher(store, config)
        self.stats = EngineStats()
        self._lock = asyncio.Lock()
        self._poked: asyncio.Event | None = None
        self._forward_sent: dict[str, float] = {}
        self.hold_until = 0.0  # restored alerts are held until then (see restore)
        self._hold_cap = 0.0
        self._awaiting: Callable[[], bool] | None = None
        # Alerts received on the Alertmanager webhook: they share silences, parent suppression,
        # incidents and notification routes with the rules' alerts (but not evaluation or flapping).
        self.external: dict[str, AlertState] = {}
        self._external_resolved: list[Transition] = []
        self._sources: dict[str, str] = {}  # external fingerprint → incident source (alertmanager, snmp_trap)
        self.flapping = {r.name + "\x00" + r.group: flap_config(config.flapping, r.flapping) for r in rules}
        self._local = _local_rules(rules)
        self._memos = _memos(rules, self._local)
        self._reads = _reads(rules, self._local)
        self._poked_assets: set[str] | None = set()  # assets polled since the last tick (None: all)
        self._saved: dict[str, dict[str, Any]] | None = None  # fingerprint → its alert_states row as written
        self._saved_at: dict[str, float] = {}  # fingerprint → when its value/last_seen were last written
        # Whether a firing alert may wait for its incident (see _unapplied): only a restore, a webhook or an
        # apply (its transitions, a failure half-way, muting) can make one; a scoped tick without
        # transitions then need not look through every alert.
        self._waiting = True
        self._marks: dict[frozenset[str] | None, dict[str, tuple[int, float, float]]] = {}  # read once a tick
        self._asset_seconds = 0.0  # the last scoped evaluation's time per asset
        self._waiter: asyncio.Future[None] | None = None  # run's wait, ended by a poke
        self._clock_seen = 0.0  # Unix time up to which run has woken for the alerts' own deadlines
        self._stopping: tuple[asyncio.Event, asyncio.AbstractEventLoop, asyncio.Future[Any]] | None = None
        for rule in self.order:
            history.need(rule.max_range())
        # cluster: this member's id (its own alert states) and whether it polls an asset; an alert
        # whose asset moved to another agent leaves quietly: that agent carries its incident on
        self.agent: str | None = None
        self.owns_asset: Callable[[str], bool] = lambda _asset: True
        self.skip_cluster_rules = False  # a cluster member: its leader evaluates those over all shards
        self.on_opened: Callable[[], None] | None = None  # called after a tick opened or reopened incidents

    # -- reload -------------------------------------------------------------------------------------
    async def replace_rules(self, rules: list[CompiledRule], config: NotifyConfig) -> None:
        """Reload: evaluate ``rules`` with ``config`` from the next tick on. Alerts of a rule that
        stays (same name and group) keep their state; a removed rule's alerts are gone (its open
        incidents stay for a person to resolve, as after a restart without it)."""
        async with self._lock:
            keys = {r.name + "\x00" + r.group for r in rules if not r.record}
            self.states = {k: self.states.get(k) or RuleState() for k in keys}
            self.order = rules
            self.rules = [r for r in rules if not r.record]
            self.recorded = {k: v for k, v in self.recorded.items() if any(r.record and r.name == k for r in rules)}
            self.config = config
            self.dispatcher.config = config
            self.dispatcher.receivers = {r.name: r for r in config.receivers}
            self.flapping = {r.name + "\x00" + r.group: flap_config(config.flapping, r.flapping) for r in self.rules}
            self._local = _local_rules(rules)
            self._memos = _memos(rules, self._local)
            self._reads = _reads(rules, self._local)
            for rule in rules:
                self.history.need(rule.max_range())

    # -- restart ----------------------------------------------------------------------------------
    def restore(self, grace: float | None = None, awaiting: Callable[[], bool] | None = None) -> int:
        """Load alert states (pending ones with their ``for`` clock) and notification memory from the
        store; returns the alerts restored. For ``grace`` seconds (default: two evaluation intervals;
        serve passes two of its longest poll interval) a restored alert that does not match is held
        as it was, neither resolved nor dropped: its series have not been collected yet. While
        ``awaiting()`` (some target has not reported since the start: a slow first poll on a busy
        host) the hold goes on, up to five times ``grace``."""
        grace = 2 * self.config.evaluation.interval if grace is None else grace
        now = time.time()
        self.hold_until = now + grace
        self._hold_cap = now + 5 * grace
        self._awaiting = awaiting
        by_rule: dict[str, str] = {r.name: r.name + "\x00" + r.group for r in self.rules}
        with self.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(schema.alert_states))]
        restored = 0
        for row in rows:
            if self.agent is not None and row.get("agent") != self.agent:
                continue  # another member's alert (cluster)
            if row["rule"] == EXTERNAL:
                alert = AlertState.from_row(row)
                self.external[alert.fingerprint] = alert
                restored += 1
                continue
            key = by_rule.get(row["rule"])
            if key is None:
                continue  # its rule was removed: the alert is gone
            alert = AlertState.from_row(row)
            self.states[key].add(alert)
            self.states[key].matching.add(alert.fingerprint)
            self.states[key].held.add(alert.fingerprint)
            changes = [at for at in alert.history if isinstance(at, float)]  # (older rows held booleans)
            if changes:
                self.states[key].flaps[alert.fingerprint] = changes
            restored += 1
        self.dispatcher.restore()
        self._waiting = True
        return restored

    # -- evaluation (pure, in a worker thread) -------------------------------------------------
    def evaluate(self, t: float, scope: frozenset[str] | None = None) -> list[Transition]:
        """Every rule at ``t``. With ``scope`` (the assets polled since the last tick) the rules whose
        expressions are local to ``asset`` are evaluated over those assets' series only, and only those
        assets' alerts move; the other rules are evaluated in full. ``group_seconds`` is the last full
        evaluation's."""
        transitions: list[Transition] = []
        self.evaluator.stats.samples = 0
        self._marks = {}
        seconds: dict[str, float] = {}
        hold_until = self._held_until(t)
        for rule in self.order:
            if rule.cluster and self.skip_cluster_rules:
                continue
            started = time.perf_counter()
            try:
                if rule.record:
                    self._record(rule, t)
                    continue
                key = rule.name + "\x00" + rule.group
                transitions += self._evaluate_rule(rule, t, hold_until, scope if key in self._local else None)
            except Exception as exc:  # one broken rule never stops the others
                self.stats.failures[rule.name] = self.stats.failures.get(rule.name, 0) + 1
                log.warning("rule %s failed: %s", rule.name, exc)
            finally:
                self.evaluator.scope = None
                seconds[rule.group] = seconds.get(rule.group, 0.0) + time.perf_counter() - started
        if scope is None:
            self.stats.group_seconds = seconds
        self.stats.evaluations += 1
        self.stats.samples += self.evaluator.stats.samples
        return transitions

    def _evaluate_rule(
        self, rule: CompiledRule, t: float, hold_until: float, scope: frozenset[str] | None
    ) -> list[Transition]:
        key = rule.name + "\x00" + rule.group
        if scope is not None and self._unread(key, scope):
            return []
        self.evaluator.scope = scope
        memo = self._memos.get(key)
        result: float | list[Element]
        if memo is not None:
            marks = self._marks.get(scope)
            if marks is None:
                marks = self._marks[scope] = self.history.asset_marks(scope)
            result = memo.evaluate(self.evaluator, t, scope, marks)
        else:
            result = self.evaluator.evaluate(rule.expr, t)
        recovery = self.evaluator.evaluate(rule.recover, t) if rule.recover is not None else None
        if not isinstance(result, list) or (recovery is not None and not isinstance(recovery, list)):
            raise ValueError("the expression returned a scalar")
        interval = self.config.evaluation.interval
        return step(rule, self.states[key], result, t, self.flapping[key], recovery, interval, hold_until, scope)

    def _unread(self, key: str, scope: frozenset[str]) -> bool:
        """Whether a local rule has nothing to do for ``scope``'s assets: no series it reads and no alert (or
        flap record) of theirs. Its result for them is empty (a local expression's elements come from their
        series) and its step would change nothing, so neither runs: a host's poll does not evaluate the
        database and certificate rules."""
        names = self._reads.get(key)
        return names is not None and not self.states[key].of_assets(scope) and not self.history.any_of(names, scope)

    def _held_until(self, t: float) -> float:
        """Until when restored alerts are held, as seen at ``t``."""
        if t < self.hold_until or t >= self._hold_cap or self._awaiting is None:
            return self.hold_until
        if self._awaiting():
            return t + 1.0  # still waiting for a target's first report since the start
        self._awaiting = None  # every target has reported: the hold ends with the grace
        return self.hold_until

    def _record(self, rule: CompiledRule, t: float) -> None:
        """A recording rule: its result becomes series ``rule.name`` (labels + the rule's labels) at
        ``t``; series it no longer returns go stale, as Prometheus' do."""
        self._marks.clear()  # its series change the marks of the assets it records for
        value = self.evaluator.evaluate(rule.expr, t)
        elements = [Element(None, {}, value)] if isinstance(value, float) else value
        rows: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], float]] = {}
        for e in elements:
            labels = dict(e.labels) | {k: tmpl.render(e.labels, e.value) for k, tmpl in rule.labels.items()}
            rows.setdefault(tuple(sorted(labels.items())), (labels, e.value))  # duplicates: the first
        self.recorded[rule.name] = list(rows.values())
        self.history.ingest(
            ("record", rule.group, rule.name),
            [(rule.name, labels, v, "gauge") for labels, v in rows.values()],
            t,
            replace=True,
        )

    def active_alerts(self) -> list[tuple[CompiledRule, AlertState]]:
        return [
            (rule, alert)
            for rule in self.rules
            for alert in self.states[rule.name + "\x00" + rule.group].alerts.values()
        ]

    def _all_alerts(self) -> list[AlertState]:
        return [a for _r, a in self.active_alerts()] + list(self.external.values())

    # -- applying to the store (worker thread) ---------------------------------------------------
    def _muting(self, silences: SilenceSet) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(fingerprint → why muted, parent incident fingerprint → suppressed alert names)."""
        firing = [(r.suppresses_dependents, a) for r, a in self.active_alerts() if a.state == FIRING]
        firing += [(a.annotations.get(SUPPRESSES, "").lower() == "true", a) for a in self.external.values()]
        down: dict[str, AlertState] = {}
        for suppresses, alert in firing:
            if suppresses and alert.labels.get("asset"):
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
                    name = alert.labels.get("alertname", alert.rule)
                    suppressed.setdefault(down[parent].fingerprint, []).append(f"{name} on {asset}")
                    break
        return muted, suppressed

    def apply(  # noqa: C901 - the tick's store side in one readable place
        self,
        transitions: list[Transition],
        silences: SilenceSet,
        t: float,
    ) -> TickResult:
        self._waiting = True
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
                self.classify,
            )
            alert.incident_id = incident_id
            if action != "repeated":
                opened.append(incident_id)
            if alert.flapping:
                repo.set_flapping(self.store, incident_id, True)
        opened += self._open_external(muted, reopen)
        by_fp = {a.fingerprint: a for _r, a in self.active_alerts()} | self.external
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
                policy = tr_rule.resolve if tr_rule else tr.alert.annotations.get(RESOLVE, "auto")
                if repo.clear(self.store, tr_incident, policy) == "resolved":
                    resolved.append(tr_incident)
            elif tr.kind in ("flapping_started", "flapping_stopped"):
                repo.set_flapping(self.store, tr_incident, tr.kind == "flapping_started")
        self._save_states()
        self.stats.incidents_opened += len(opened)
        self._muted = muted
        return TickResult(transitions, opened, resolved, 0)

    def _open_external(self, muted: Mapping[str, str], reopen: float) -> list[int]:
        opened: list[int] = []
        for alert in self.external.values():
            if alert.incident_id is not None or alert.fingerprint in muted:
                continue
            incident_id, action = repo.fire(
                self.store,
                repo.AlertInput(
                    alert.fingerprint,
                    alert.labels.get("alertname", "alert"),
                    alert.labels,
                    alert.annotations,
                    None,
                    alert.annotations.get(RESOLVE, "auto"),
                    self._sources.get(alert.fingerprint, "alertmanager"),
                    started_at=datetime.fromtimestamp(alert.active_at, UTC),
                ),
                reopen,
                self.classify,
            )
            alert.incident_id = incident_id
            if action != "repeated":
                opened.append(incident_id)
        return opened

    def _state_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [a.to_row() | {"history": []} for a in self.external.values()]
        for rule in self.rules:
            rs = self.states[rule.name + "\x00" + rule.group]
            for alert in rs.alerts.values():
                row = alert.to_row()
                row["history"] = list(rs.flaps.get(alert.fingerprint, []))
                rows.append(row)
        return rows

    def _save_states(self, everything: bool = False) -> None:
        """Write the alert states that changed since the last save (rows of alerts gone are deleted);
        rows whose only change is value/last_seen at most every STATE_REFRESH_SECONDS. The first save
        (and ``everything``) rewrites the table."""
        rows = self._state_rows()
        if self.agent is not None:  # a cluster member rewrites its own rows; the others' stay theirs
            save_member_states(self.store, self.agent, rows)
            return
        saved, self._saved = self._saved, {row["fingerprint"]: row for row in rows}
        try:
            self._write_states(rows, saved, everything)
        except BaseException:
            self._saved = None  # what the store holds is not known: all of it is written next time
            raise

    def _write_states(
        self, rows: list[dict[str, Any]], saved: dict[str, dict[str, Any]] | None, everything: bool
    ) -> None:
        assert self._saved is not None
        now = time.monotonic()
        if saved is None or everything or len(self._saved) != len(rows):  # (a duplicate fingerprint: let it fail)
            with self.store.transaction() as conn:
                conn.execute(delete(schema.alert_states))
                if rows:
                    conn.execute(insert(schema.alert_states), rows)
            self._saved_at = dict.fromkeys(self._saved, now)
            return
        changed: list[dict[str, Any]] = []
        moved: list[dict[str, Any]] = []  # only value/last_seen to refresh: an UPDATE of those two
        for row in rows:
            change = self._change(saved.get(row["fingerprint"]), row, now)
            if change is not None:
                (changed if change == _ROW else moved).append(row)
        gone = [fp for fp in saved if fp not in self._saved]
        for fp in gone:
            self._saved_at.pop(fp, None)
        for row in changed + moved:
            self._saved_at[row["fingerprint"]] = now
        if changed or gone or moved:
            self._store_changes(changed, moved, gone)

    def _store_changes(self, changed: list[dict[str, Any]], moved: list[dict[str, Any]], gone: list[str]) -> None:
        """Rewrite ``changed`` rows, refresh the value/last_seen of ``moved`` ones, delete ``gone`` ones."""
        with self.store.transaction() as conn:
            stale = gone + [row["fingerprint"] for row in changed]
            for i in range(0, len(stale), 500):
                conn.execute(
                    delete(schema.alert_states).where(schema.alert_states.c.fingerprint.in_(stale[i : i + 500]))
                )
            if changed:
                conn.execute(insert(schema.alert_states), changed)
            if moved:
                conn.execute(_REFRESH, [{"b_fp": r["fingerprint"]} | {f"b_{k}": r[k] for k in _MOVING} for r in moved])

    def _change(self, old: dict[str, Any] | None, row: dict[str, Any], now: float) -> str | None:
        """What of ``row`` must be written now (``old``: as last written): _ROW (all of it), _MOVING_ONLY (its
        value/last_seen, due for their refresh) or None; keeps the written values in ``self._saved`` for
        rows left as they were."""
        assert self._saved is not None
        if old is None or any(old[k] != v for k, v in row.items() if k not in _MOVING):
            return _ROW
        if all(old[k] == row[k] for k in _MOVING):
            return None
        if now - self._saved_at.get(row["fingerprint"], 0.0) >= STATE_REFRESH_SECONDS:
            return _MOVING_ONLY
        self._saved[row["fingerprint"]] = row | {k: old[k] for k in _MOVING}  # the store still has these
        return None

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
            for a in {a.fingerprint: a for a in self._all_alerts()}.values()
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
    async def tick(self, t: float | None = None, scope: frozenset[str] | None = None) -> TickResult:
        """One evaluation and its consequences. With ``scope`` (assets polled since the last tick) only
        their alerts move (see ``evaluate``), and when none changed state and every firing alert has
        its incident, the store side (silences, incidents, state rows) waits for the next full tick."""
        async with self._lock:
            started = time.perf_counter()
            now = time.time() if t is None else t
            if scope is not None and len(scope) * self._asset_seconds <= INLINE_SECONDS:
                evaluated = self._timed(now, scope)
            else:
                evaluated = await asyncio.to_thread(self._timed, now, scope)
            transitions = [tr for tr in evaluated if not self._handed_over(tr)]
            transitions += self._external_resolved
            self._external_resolved = []
            if scope is None or transitions or self._unapplied():
                silences = await asyncio.to_thread(SilenceSet.active, self.store)
                result = await asyncio.to_thread(self.apply, transitions, silences, now)
                if result.opened and self.on_opened is not None:
                    self.on_opened()
            else:
                result = TickResult(transitions, [], [], 0)
            if not self.config.routes and not self.config.alertmanagers:
                self.stats.last_tick_seconds = time.perf_counter() - started
                return result  # nobody to notify: no lists of every firing alert to build
            firing, resolved = self._notify_lists(transitions)
            due = self.dispatcher.plan_all(firing, resolved, now)
            sent = await self.dispatcher.dispatch(due, now) if due else []
            result.notified = sum(1 for _g, ok, _e in sent if ok)
            await self._forward(firing, resolved, now)
            self.stats.last_tick_seconds = time.perf_counter() - started
            return result

    def _timed(self, t: float, scope: frozenset[str] | None) -> list[Transition]:
        started = time.perf_counter()
        transitions = self.evaluate(t, scope)
        if scope:
            self._asset_seconds = (time.perf_counter() - started) / len(scope)
        return transitions

    def _handed_over(self, tr: Transition) -> bool:
        """An alert that "resolved" only because its asset's series left with the asset (to another
        agent of the cluster): not a resolution."""
        asset = tr.alert.labels.get("asset")
        return tr.kind == "resolved" and asset is not None and not self.owns_asset(asset)

    def _unapplied(self) -> bool:
        """Whether a firing alert waits for its incident (new, or its last attempt failed); muted ones
        are looked at again by the full ticks (a silence that ended, a parent back up)."""
        if not self._waiting:
            return False
        muted = getattr(self, "_muted", {})
        self._waiting = any(
            a.state == FIRING and a.incident_id is None and a.fingerprint not in muted for a in self._all_alerts()
        )
        return self._waiting

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
        """Tick every evaluation interval over everything, and soon after a poke (a new poll result)
        over the assets polled since (see ``tick``)."""
        self._poked = asyncio.Event()
        full_at = -math.inf
        self._clock_seen = time.time()
        try:
            while not stop.is_set():
                interval = self.config.evaluation.interval
                scope = self._take_scope(time.monotonic() - full_at >= interval)
                if scope is None:
                    full_at = time.monotonic()
                try:
                    await (self.tick() if scope is None else self.tick(scope=scope))
                except Exception:
                    log.exception("alert evaluation tick failed")
                left = interval - (time.monotonic() - full_at)
                await self._wait(stop, min(interval, max(left, 0.0), self._until_deadline()))
                self._poke_deadlines()
        finally:
            if self._stopping is not None:
                self._stopping[2].cancel()
                self._stopping = None
            with contextlib.suppress(Exception):
                async with self._lock:
                    await asyncio.to_thread(self._save_states, True)  # value/last_seen as they are now

    def _deadlines(self) -> Iterator[tuple[float, str | None]]:
        """When each alert's state changes with the clock alone, and its asset: a pending alert fires once
        its ``for`` has passed, an alert kept firing (``keep_firing_for``) resolves once that has."""
        for rule in self.rules:
            if not rule.for_ and not rule.keep_firing_for:
                continue
            rs = self.states[rule.name + "\x00" + rule.group]
            for alert in rs.alerts.values():
                if alert.state == PENDING:
                    yield alert.active_at + rule.for_, alert.labels.get("asset")
                elif rule.keep_firing_for and alert.fingerprint not in rs.matching:
                    yield alert.last_seen + rule.keep_firing_for, alert.labels.get("asset")

    def _until_deadline(self) -> float:
        """Seconds until the next alert deadline not yet woken for (inf: none)."""
        due = [at for at, _asset in self._deadlines() if at > self._clock_seen]
        return max(min(due) - time.time(), 0.0) + DEADLINE_SLACK if due else math.inf

    def _poke_deadlines(self) -> None:
        """Bring the assets whose alerts' deadlines have passed since the last look into the next tick (an
        alert without an asset: every asset), so a ``for`` ends when it has passed, not at the next full
        tick (Prometheus: at the next evaluation)."""
        now = time.time()
        for at, asset in self._deadlines():
            if self._clock_seen < at <= now:
                if asset is None:
                    self._poked_assets = None
                elif self._poked_assets is not None:
                    self._poked_assets.add(asset)
        self._clock_seen = now

    def _take_scope(self, full: bool) -> frozenset[str] | None:
        """The assets of the next tick (None: every asset), and a clean slate for the pokes."""
        assets, self._poked_assets = self._poked_assets, set()
        return None if full or assets is None or not assets else frozenset(assets)

    async def _wait(self, stop: asyncio.Event, interval: float) -> None:
        """Until a poke (paced), ``stop``, or the evaluation interval (no task made per wait: a poke ends a
        bare future, and one task waits for ``stop`` for the whole run)."""
        assert self._poked is not None
        ended = time.monotonic()
        if not self._poked.is_set():
            self._waiter = asyncio.get_running_loop().create_future()
            either: set[asyncio.Future[Any]] = {self._waiter, self._until_stop(stop)}
            try:
                await asyncio.wait(either, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._waiter = None
        if self._poked.is_set():
            await self._pace(stop, ended, interval)
        self._poked.clear()

    def _until_stop(self, stop: asyncio.Event) -> asyncio.Future[Any]:
        """A future done when ``stop`` is set, made once per run."""
        loop = asyncio.get_running_loop()
        cached = self._stopping
        if cached is None or cached[0] is not stop or cached[1] is not loop or (cached[2].done() and not stop.is_set()):
            waiting: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            cached = self._stopping = (stop, loop, waiting)
        return cached[2]

    async def _pace(self, stop: asyncio.Event, ended: float, interval: float) -> None:
        """A poll result brings the next tick forward (threshold → incident at once when the last poll-driven
        tick is POKE_BATCH_SECONDS old), but poll-driven ticks take at most POKE_CPU_SHARE of a core: the rules
        not local to an asset are evaluated over every series, so one tick per poll could cost O(targets²) per
        interval. The wait since the last tick is at least POKE_BATCH_SECONDS (polls landing within it make
        one tick) and at most the evaluation interval."""
        spacing = min(interval, max(POKE_BATCH_SECONDS, self.stats.last_tick_seconds / POKE_CPU_SHARE))
        wait = spacing - (time.monotonic() - ended)
        if wait > 0 and not stop.is_set():
            await asyncio.wait({self._until_stop(stop)}, timeout=wait)

    def poke(self, asset: str | None = None) -> None:
        """A poll result of ``asset`` (None: something that may concern every asset) is in."""
        if self._poked is not None:
            if asset is None:
                self._poked_assets = None
            elif self._poked_assets is not None:
                self._poked_assets.add(asset)
            self._poked.set()
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    # -- Alertmanager webhooks ------------------------------------------------------------------
    async def receive_alertmanager(self, payload: Mapping[str, Any]) -> dict[str, list[Any]]:
        """Take an Alertmanager webhook into the pipeline (silences, parent suppression, incidents with
        the same dedup, notification routes) and run a tick at once. PayloadError on a bad payload."""
        return await self.receive_alerts(alertmanager.validate_payload(payload))

    async def receive_alerts(
        self, alerts: list[Mapping[str, Any]], source: str = "alertmanager"
    ) -> dict[str, list[Any]]:
        """Alerts from outside the evaluator (Alertmanager's webhook, SNMP trap rules) in webhook form:
        ``labels``, ``annotations``, ``status`` firing|resolved, optional ``startsAt``/``endsAt``.
        ``source`` is recorded on the incidents they open."""
        async with self._lock:
            firing, resolved = await asyncio.to_thread(self._take_webhook, alerts, time.time(), source)
        result = await self.tick()
        muted = getattr(self, "_muted", {})
        out: dict[str, list[Any]] = {"opened": [], "resolved": [], "unchanged": [], "muted": []}
        for fp in firing:
            alert = self.external.get(fp)
            if fp in muted:
                out["muted"].append({"fingerprint": fp, "why": muted[fp]})
            elif alert is not None and alert.incident_id in result.opened:
                out["opened"].append(alert.incident_id)
            elif alert is not None and alert.incident_id is not None:
                out["unchanged"].append(alert.incident_id)
        out["resolved"] = [i for i in resolved if i in result.resolved]
        return out

    def _take_webhook(
        self, alerts: list[Mapping[str, Any]], now: float, source: str = "alertmanager"
    ) -> tuple[list[str], list[int]]:
        firing: list[str] = []
        resolved: list[int] = []
        self._waiting = True
        for item in alerts:
            labels = {str(k): str(v) for k, v in item["labels"].items()}
            annotations = {str(k): str(v) for k, v in (item.get("annotations") or {}).items()}
            fp = fingerprint(labels)
            alert = self.external.get(fp)
            if alert is None:
                alert = AlertState(EXTERNAL, fp, labels, annotations, 0.0, FIRING, now)
                started = alertmanager.parse_time(item.get("startsAt"))
                alert.active_at = alert.fired_at = started.timestamp() if started else now
                active = repo.active_by_fingerprint(self.store, fp)  # dedup with what is already open
                alert.incident_id = active[0]["id"] if active else None
            alert.annotations, alert.last_seen = annotations, now
            if item["status"] == "firing":
                self.external[fp] = alert
                self._sources.setdefault(fp, source)
                firing.append(fp)
                continue
            self.external.pop(fp, None)
            self._sources.pop(fp, None)
            if alert.incident_id is not None and not self._opened_by(fp, alert.incident_id, source):
                continue  # an incident is resolved only by the source that opened it (a rule by the rule)
            ended = alertmanager.parse_time(item.get("endsAt"))
            self._external_resolved.append(Transition("resolved", alert, ended.timestamp() if ended else now))
            if alert.incident_id is not None:
                resolved.append(alert.incident_id)
        return firing, resolved

    def _opened_by(self, fingerprint: str, incident_id: int, source: str) -> bool:
        opened = [r for r in repo.active_by_fingerprint(self.store, fingerprint) if r["id"] == incident_id]
        return not opened or opened[0]["source"] == source

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
        yield from self._recorded_metrics()

    def _recorded_metrics(self) -> Iterator[Metric]:
        """The recording rules' series, as Prometheus would store them (untyped: a rule has no type)."""
        for name, rows in list(self.recorded.items()):
            family = Metric(name, f"Recording rule {name}.", "unknown")
            for labels, value in rows:
                family.add_sample(name, labels, value)
            yield family


def _memos(rules: list[CompiledRule], local: set[str]) -> dict[str, AssetMemo]:
    """Per-asset result caches of the local rules whose expression can be held (alerts/memo.py)."""
    return {
        r.name + "\x00" + r.group: AssetMemo(r.expr)
        for r in rules
        if r.name + "\x00" + r.group in local and r.recover is None and steady(r.expr)
    }


def _reads(rules: list[CompiledRule], local: set[str]) -> dict[str, frozenset[str] | None]:
    """The metric names each local rule's expressions read (None: a selector without a name)."""
    out: dict[str, frozenset[str] | None] = {}
    for r in rules:
        key = r.name + "\x00" + r.group
        if key not in local:
            continue
        exprs = [r.expr] if r.recover is None else [r.expr, r.recover]
        names = [n.name for e in exprs for n in walk(e) if isinstance(n, VectorSelector)]
        out[key] = None if None in names else frozenset(n for n in names if n is not None)
    return out


def _local_rules(rules: list[CompiledRule]) -> set[str]:
    """Keys of the alerting rules a poll result needs evaluated only over its asset's series: their
    expressions (and recovery expressions) are local to ``asset`` and their labels do not set it."""
    return {
        r.name + "\x00" + r.group
        for r in rules
        if not r.record and "asset" not in r.labels and local_to(r.expr) and (r.recover is None or local_to(r.recover))
    }
