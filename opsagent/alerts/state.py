"""The alert state machine, as plain functions over data (no store, no network).

Per rule and label set (the *fingerprint*): inactive → pending → firing after ``for``; firing stays
while the expression matches, for ``keep_firing_for`` after it stops, and — with a recovery
expression (hysteresis) — until the recovery expression matches. Flap detection follows Nagios: the
weighted percentage of state changes over the last N evaluation intervals; above the high threshold the alert
is *flapping* (it stays firing and notifications are held), below the low threshold it is not.
The changes are counted where they happen (times of state changes), so extra evaluations (a tick
after every poll result) do not dilute them.
"""

from __future__ import annotations

import hashlib
import math
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


def flap_percent(changes: list[float], now: float, span: float, window: int) -> float:
    """Nagios' percent state change over the last ``window`` evaluation intervals (``span`` seconds),
    counted from the times the alert's state changed, not from evaluations: ticks run on every poll
    result as well as on the interval, and a state sampled twice is not half as flappy. Each change
    weighs 0.8 (oldest) to 1.2 (newest), over ``window - 1`` possible changes."""
    total = 0.0
    for at in changes:
        age = now - at
        if 0 <= age <= span:
            total += 0.8 + 0.4 * (1 - age / span)
    return min(100.0, 100.0 * total / (window - 1))


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
    history: list[float] = field(default_factory=list)  # times its state changed (flap detection)
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
    # Times each label set's state (matching or not) changed: they outlive an alert's activity, as a
    # flapping series keeps clearing and returning.
    flaps: dict[str, list[float]] = field(default_factory=dict)
    matching: set[str] = field(default_factory=set)  # label sets the last evaluation matched
    # Alerts restored after a restart and not matched since: held (not resolved, not dropped) until
    # their series have had the chance to be collected again.
    held: set[str] = field(default_factory=set)
    # The last evaluation's elements by the id of their label mapping, with their alert labels, fingerprint and
    # annotations: an element with the same mapping (a series' labels: the evaluator hands them on) and value
    # is not rendered and hashed again (an interface down for days, at every poll of its host). Neither the
    # labels nor the annotations are ever changed in place.
    rendered: dict[int, tuple[Element, dict[str, str], str, dict[str, str]]] = field(default_factory=dict)
    # The ``asset`` label of every label set above (alerts, flap records), and the label sets by asset: a
    # scoped evaluation (one asset's poll) visits that asset's alerts only, not the rule's every alert.
    asset_of: dict[str, str] = field(default_factory=dict)
    by_asset: dict[str, set[str]] = field(default_factory=dict)

    def add(self, alert: AlertState) -> None:
        """``alert`` is one of this rule's alerts (made by an evaluation, or restored)."""
        self.alerts[alert.fingerprint] = alert
        self.index(alert.fingerprint, alert.labels.get("asset", ""))

    def index(self, fp: str, asset: str) -> None:
        if self.asset_of.get(fp) != asset:
            self.asset_of[fp] = asset
            self.by_asset.setdefault(asset, set()).add(fp)

    def of_assets(self, assets: frozenset[str]) -> set[str]:
        """The label sets (alerts and flap records) of ``assets``."""
        by_asset = self.by_asset
        return set().union(*[by_asset[a] for a in assets if a in by_asset])

    def reindex(self) -> None:
        """Every alert indexed (alerts set from outside ``add``), and label sets with neither an alert nor a flap
        record forgotten: a full evaluation's upkeep."""
        alerts, flaps, asset_of = self.alerts, self.flaps, self.asset_of
        for fp in alerts.keys() - asset_of.keys():
            self.index(fp, alerts[fp].labels.get("asset", ""))
        if len(asset_of) > len(alerts) + len(flaps):
            for fp in [fp for fp in asset_of if fp not in alerts and fp not in flaps]:
                asset = asset_of.pop(fp)
                fps = self.by_asset[asset]
                fps.discard(fp)
                if not fps:
                    del self.by_asset[asset]


def alert_labels(rule: CompiledRule, element: Element) -> dict[str, str]:
    labels = dict(element.labels)
    for key, template in rule.labels.items():
        labels[key] = template.render(element.labels, element.value)
    labels["alertname"] = rule.name
    return labels


def _update_flapping(
    alert: AlertState, changes: list[float], cfg: FlappingConfig, now: float, span: float
) -> Transition | None:
    if not cfg.enabled:
        return None
    percent = flap_percent(changes, now, span, cfg.window)
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
    interval: float = 15.0,
    hold_until: float = 0.0,
    scope: frozenset[str] | None = None,
) -> list[Transition]:
    """Advance one rule's alerts by one evaluation at ``now``; returns what changed. ``interval``:
    the evaluation interval, the unit of the flap detection window. Before ``hold_until`` restored
    alerts (``rs.held``) that do not match keep their state: after a restart the first evaluations
    run before the polls have brought their series back. With ``scope`` (asset names) ``result`` is the
    rule's result for those assets only (see ``promql.locality``): the alerts of other assets are left
    as they are, as if this evaluation had not happened for them."""
    transitions: list[Transition] = []
    if now >= hold_until:
        rs.held.clear()
    if scope is None:
        rs.reindex()
        inside: set[str] | None = None
    else:
        inside = rs.of_assets(scope)
    seen = _matched(rule, rs, result, now, transitions, scope is not None)
    if inside is not None:
        inside |= seen
    rs.held -= seen
    for fp in list(rs.alerts) if inside is None else [fp for fp in inside if fp in rs.alerts]:
        if fp in seen or fp in rs.held:
            continue
        alert = rs.alerts[fp]
        if alert.state == PENDING:
            del rs.alerts[fp]
            continue
        if alert.flapping or now - alert.last_seen < rule.keep_firing_for:
            continue
        if not _recovered(alert, recovery):
            continue  # hysteresis: still beyond the recovery threshold
        del rs.alerts[fp]
        transitions.append(Transition("resolved", alert, now))
    _flap_step(rs, seen | rs.held, now, cfg, interval * cfg.window, transitions, inside)
    return transitions


def _matched(
    rule: CompiledRule, rs: RuleState, result: list[Element], now: float, out: list[Transition], partial: bool = False
) -> set[str]:
    """Create or refresh the alerts of the matching elements (pending → firing after ``for``). ``partial``:
    ``result`` is some assets' only (the rendered elements of the others are kept)."""
    seen: set[str] = set()
    last, rendered = rs.rendered, {}
    for element in result:
        hit = last.get(id(element.labels))
        if hit is None or not _renders_alike(hit[0], element):
            labels = alert_labels(rule, element)
            annotations = {k: t.render(element.labels, element.value) for k, t in rule.annotations.items()}
            hit = (element, labels, fingerprint(labels), annotations)
        rendered[id(element.labels)] = hit
        _element, labels, fp, annotations = hit
        if fp in seen:
            continue  # the same label set twice after templating: Prometheus errors, we keep the first
        seen.add(fp)
        alert = rs.alerts.get(fp)
        if alert is None:
            alert = AlertState(rule.name, fp, labels, {}, element.value, PENDING, now)
            rs.add(alert)
        alert.value = element.value
        alert.last_seen = now
        alert.annotations = annotations
        if alert.state == PENDING and now - alert.active_at >= rule.for_:
            alert.state = FIRING
            alert.fired_at = now
            out.append(Transition("fired", alert, now))
    if partial:
        last.update(rendered)  # (in place: the other assets' entries stay)
    else:
        rs.rendered = rendered
    return seen


def _renders_alike(old: Element, new: Element) -> bool:
    """Whether ``new`` renders as ``old`` did: the same label mapping (the very object: a series' labels, never
    changed in place) and the same value (templates see labels and value alone), -0.0 apart from 0.0."""
    a, b = old.value, new.value
    return old.labels is new.labels and a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _flap_step(
    rs: RuleState,
    seen: set[str],
    now: float,
    cfg: FlappingConfig,
    span: float,
    out: list[Transition],
    inside: set[str] | None = None,
) -> None:
    """``inside``: the label sets of a scoped evaluation's assets (None: every one). The others were not
    evaluated now: their label sets matching last time stay matching (a label set in ``matching`` always
    has its alert: it was matched, so made, and is dropped only when it no longer matches) and their
    flap state waits for their evaluation."""
    if inside is None:
        changed = seen ^ rs.matching  # matching now and not before, or the other way: a state change
        rs.matching = seen
    else:  # (in place: a poll's tick costs its asset's label sets, not the rule's every one)
        seen = seen & inside  # (held alerts of other assets: matching, and left as they are)
        before = rs.matching & inside
        changed = seen ^ before
        rs.matching -= before
        rs.matching |= seen
    if not cfg.enabled:
        return
    for fp in changed:
        rs.flaps.setdefault(fp, []).append(now)
    for fp in list(rs.flaps) if inside is None else [fp for fp in inside if fp in rs.flaps]:
        changes = rs.flaps[fp]
        del changes[: next((i for i, at in enumerate(changes) if now - at <= span), len(changes))]
        alert = rs.alerts.get(fp)
        if alert is not None and alert.state == FIRING:
            change = _update_flapping(alert, changes, cfg, now, span)
            if change is not None:
                out.append(change)
        if not changes and (alert is None or not alert.flapping):
            del rs.flaps[fp]  # no change for a whole window: forget it
