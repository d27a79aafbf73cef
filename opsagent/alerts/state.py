"""The alert state machine, as plain functions over data (no store, no network).

Per rule and label set (the *fingerprint*): inactive → pending → firing after ``for``; firing stays
while the expression matches, for ``keep_firing_for`` after it stops, and — with a recovery
expression (hysteresis) — until the recovery expression matches. Flap detection follows Nagios: the
weighted percentage of state changes over the last N evaluations; above the high threshold the alert
is *flapping* (it stays firing and notifications are held), below the low threshold it is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opsagent.alerts.notifyconfig import FlappingConfig
from opsagent.alerts.promql.engine import Element
from opsagent.alerts.rulefile import CompiledRule

PENDING, FIRING = "pending", "firing"
EXTERNAL = "@alertmanager"  # the `rule` of alerts received on the Alertmanager webhook


def flap_config(base: FlappingConfig, overrides: Mapping[str, Any]) -> FlappingConfig:
    """The alerting config's flap detection with a rule's own settings on top (checked at load time;
    a combination invalid against a site's defaults falls back to those defaults)."""
    if not overrides:
        return base
    try:
        return FlappingConfig.model_validate(base.model_dump() | dict(overrides))
    except ValueError:
        return base


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable id of an alert's label set (alertname included): the dedup key of incidents."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flap_percent(history: list[bool]) -> float:
    """Nagios' percent state change: changes weighted 0.8 (oldest) to 1.2 (newest)."""
    n = len(history)
    if n < 2:
        return 0.0
    total = 0.0
    for i in range(1, n):
        if history[i] != history[i - 1]:
            total += 0.8 + 0.4 * (i - 1) / max(n - 2, 1)
    return min(100.0, 100.0 * total / (n - 1))  # the weights average 1: float error only above 100


@dataclass
class AlertState:
    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    state: str
    active_at: float
    fired_at: float | None = None
    last_seen: float = 0.0
    flapping: bool = False
    history: list[bool] = field(default_factory=list)
    incident_id: int | None = None
    notified: bool = False

    def to_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertState:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


@dataclass(frozen=True)
class Transition:
    kind: str  # fired | resolved | flapping_started | flapping_stopped
    alert: AlertState
    at: float


@dataclass
class RuleState:
    """Everything the evaluator remembers about one rule between evaluations."""

    alerts: dict[str, AlertState] = field(default_factory=dict)
    # Flap histories outlive an alert's activity: a flapping series keeps clearing and returning.
    flaps: dict[str, list[bool]] = field(default_factory=dict)


def alert_labels(rule: CompiledRule, element: Element) -> dict[str, str]:
    labels = dict(element.labels)
    for key, template in rule.labels.items():
        labels[key] = template.render(element.labels, element.value)
    labels["alertname"] = rule.name
    return labels


def _record_flap(rs: RuleState, fp: str, active: bool, cfg: FlappingConfig) -> list[bool]:
    history = rs.flaps.setdefault(fp, [])
    history.append(active)
    del history[: max(0, len(history) - cfg.window)]
    return history


def _update_flapping(alert: AlertState, history: list[bool], cfg: FlappingConfig, now: float) -> Transition | None:
    if not cfg.enabled:
        return None
    percent = flap_percent(history)
    if not alert.flapping and percent > cfg.high_threshold:
        alert.flapping = True
        return Transition("flapping_started", alert, now)
    if alert.flapping and percent < cfg.low_threshold:
        alert.flapping = False
        return Transition("flapping_stopped", alert, now)
    return None


def _recovered(alert: AlertState, recovery: list[Element] | None) -> bool:
    """Without a recovery expression an alert clears when its expression stops matching; with one,
    only when a recovery sample with the alert's labels exists (labels the rule added are ignored)."""
    if recovery is None:
        return True
    return any(all(alert.labels.get(k) == v for k, v in e.labels.items()) for e in recovery)


def step(
    rule: CompiledRule,
    rs: RuleState,
    result: list[Element],
    now: float,
    cfg: FlappingConfig,
    recovery: list[Element] | None = None,
) -> list[Transition]:
    """Advance one rule's alerts by one evaluation at ``now``; returns what changed."""
    transitions: list[Transition] = []
    seen: set[str] = set()
    for element in result:
        labels = alert_labels(rule, element)
        fp = fingerprint(labels)
        if fp in seen:
            continue  # the same label set twice after templating: Prometheus errors, we keep the first
        seen.add(fp)
        alert = rs.alerts.get(fp)
        if alert is None:
            alert = rs.alerts[fp] = AlertState(rule.name, fp, labels, {}, element.value, PENDING, now)
        alert.value = element.value
        alert.last_seen = now
        alert.annotations = {k: t.render(element.labels, element.value) for k, t in rule.annotations.items()}
        if alert.state == PENDING and now - alert.active_at >= rule.for_:
            alert.state = FIRING
            alert.fired_at = now
            transitions.append(Transition("fired", alert, now))
    for fp, alert in list(rs.alerts.items()):
        if fp in seen:
            continue
        if alert.state == PENDING:
            del rs.alerts[fp]
            continue
        if alert.flapping or now - alert.last_seen < rule.keep_firing_for:
            continue
        if not _recovered(alert, recovery):
            continue  # hysteresis: still beyond the recovery threshold
        del rs.alerts[fp]
        transitions.append(Transition("resolved", alert, now))
    _flap_step(rs, seen, now, cfg, transitions)
    return transitions


def _flap_step(rs: RuleState, seen: set[str], now: float, cfg: FlappingConfig, out: list[Transition]) -> None:
    if not cfg.enabled:
        return
    for fp in set(rs.flaps) | {fp for fp in seen if fp in rs.alerts}:
        history = _record_flap(rs, fp, fp in seen, cfg)
        alert = rs.alerts.get(fp)
        if alert is not None and alert.state == FIRING:
            change = _update_flapping(alert, history, cfg, now)
            if change is not None:
                out.append(change)
        if not any(history):
            del rs.flaps[fp]  # quiet for a whole window: forget it
