"""Escalation levels due now, from the clocks and the escalations already in the event log.

A level fires once per (target, level) when the clock has used ``at`` % of its budget and is still
running or paused; a stopped clock (response after acknowledgement, resolution after the fix) never
escalates, so acknowledging stops response escalation but not resolution escalation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from opsagent.sla.batch import RUNNING, STOPPED, Arrays
from opsagent.sla.calendar import Calendar
from opsagent.sla.clock import Clock
from opsagent.sla.oncall import on_call
from opsagent.sla.policy import ServiceLevelPolicy


@dataclass(frozen=True)
class Escalate:
    target: str  # response | assessment | resolution
    level: int  # 1-based
    percent: float
    notify: tuple[str, ...]  # resolved targets: person:NAME, team:NAME, channel:NAME

    def as_detail(self) -> dict[str, Any]:
        return {"target": self.target, "level": self.level, "percent": self.percent, "notify": list(self.notify)}


def done_levels(events: Iterable[Mapping[str, Any]]) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for event in events:
        detail = event.get("detail") or {}
        if event["kind"] == "escalated" and "target" in detail and "level" in detail:
            out.add((str(detail["target"]), int(detail["level"])))
    return out


def resolve_target(target: str, policy: ServiceLevelPolicy, at: datetime) -> str:
    kind, _, name = target.partition(":")
    if kind == "oncall":
        return f"person:{on_call(policy.oncall[name], at)}"
    return target


def due(
    clocks: Mapping[str, Clock],
    policy: ServiceLevelPolicy,
    priority: str,
    done: set[tuple[str, int]],
    now: datetime,
    resolved: dict[Any, Any] | None = None,
) -> list[Escalate]:
    """Levels due now. ``resolved`` memoises notify targets (on-call lookups) across one tick."""
    memo: dict[Any, Any] = {} if resolved is None else resolved
    spec = policy.escalation
    if spec.priorities and priority not in spec.priorities:
        return []
    out: list[Escalate] = []
    for target in spec.targets:
        clock = clocks.get(target)
        if clock is None or clock.state == "stopped" or clock.budget <= 0:
            continue
        for index, level in enumerate(spec.levels, start=1):
            if clock.used < clock.budget * level.at / 100.0 or (target, index) in done:
                continue
            # one Escalate per (target, level) per tick: on-call lookups once, not per incident
            step = memo.get((target, index))
            if step is None:
                notify = tuple(dict.fromkeys(resolve_target(t, policy, now) for t in level.notify))
                step = memo[(target, index)] = Escalate(target, index, level.at, notify)
            out.append(step)
    return out


def next_check(
    clocks: Mapping[str, Clock], policy: ServiceLevelPolicy, priority: str, done: set[tuple[str, int]], now: datetime
) -> datetime | None:
    """The next moment this incident's SLA state can change without a new event: a running clock
    reaching its next escalation level or its budget. None while every clock is paused or stopped."""
    calendar = policy.calendar_for(priority)
    soonest: float | None = None
    levels = (
        policy.escalation.levels if not policy.escalation.priorities or priority in policy.escalation.priorities else []
    )
    for name, clock in clocks.items():
        if clock.state != "running":
            continue
        marks = [clock.budget] if not clock.breached else []
        if name in policy.escalation.targets:
            marks += [clock.budget * lv.at / 100.0 for i, lv in enumerate(levels, 1) if (name, i) not in done]
        for mark in marks:
            left = mark - clock.used
            if left > 0 and (soonest is None or left < soonest):
                soonest = left
    return calendar.add(now, soonest) if soonest is not None else None


# The same two rules over a batch group's arrays (see opsagent.sla.batch), for the tick: ``done``
# maps (target, level) to a bool array over the group's members.


def _levels_for(policy: ServiceLevelPolicy, priority: str) -> list[Any]:
    spec = policy.escalation
    return spec.levels if not spec.priorities or priority in spec.priorities else []


def due_many(
    clocks: Mapping[str, Arrays],
    policy: ServiceLevelPolicy,
    priority: str,
    done: Mapping[tuple[str, int], np.ndarray],
    now: datetime,
    resolved: dict[Any, Any],
) -> list[tuple[np.ndarray, Escalate]]:
    """(indices of the members it is due for, level) for each level due now, as :func:`due`."""
    out: list[tuple[np.ndarray, Escalate]] = []
    levels = _levels_for(policy, priority)
    for target in policy.escalation.targets:
        clock = clocks.get(target)
        if clock is None or clock.budget <= 0:
            continue
        live = clock.state != STOPPED
        for index, level in enumerate(levels, start=1):
            hit = live & (clock.used >= clock.budget * level.at / 100.0)
            seen = done.get((target, index))
            if seen is not None:
                hit &= ~seen
            members = np.flatnonzero(hit)
            if not len(members):
                continue
            step = resolved.get((target, index))
            if step is None:
                notify = tuple(dict.fromkeys(resolve_target(t, policy, now) for t in level.notify))
                step = resolved[(target, index)] = Escalate(target, index, level.at, notify)
            out.append((members, step))
    return out


def next_check_many(
    clocks: Mapping[str, Arrays],
    policy: ServiceLevelPolicy,
    priority: str,
    done: Mapping[tuple[str, int], np.ndarray],
    now: datetime,
    calendar: Calendar | None = None,
) -> np.ndarray:
    """Epoch seconds of each member's next check (NaN: none), as :func:`next_check`; ``calendar``:
    the group's own (a service contract's), else the priority's."""
    calendar = calendar if calendar is not None else policy.calendar_for(priority)
    levels = _levels_for(policy, priority)
    soonest: np.ndarray | None = None
    for name, clock in clocks.items():
        if soonest is None:
            soonest = np.full(clock.used.shape, np.inf)
        running = clock.state == RUNNING
        marks: list[tuple[Any, np.ndarray | None]] = [(np.where(clock.breached, np.nan, clock.budget), None)]
        if name in policy.escalation.targets:
            marks += [(clock.budget * lv.at / 100.0, done.get((name, i))) for i, lv in enumerate(levels, 1)]
        for mark, seen in marks:
            left = mark - clock.used
            ok = running & (left > 0)
            if seen is not None:
                ok &= ~seen
            soonest = np.where(ok & (left < soonest), left, soonest)
    if soonest is None:
        return np.zeros(0)
    now_t = now.timestamp()
    line = calendar.timeline()
    now_w = line.worked(now_t)
    some = np.isfinite(soonest)
    out = np.full(soonest.shape, np.nan)
    if now_w is not None:
        moment, ok = line.moment_many(np.where(some, now_w + soonest, 0.0), np.full(soonest.shape, now_t))
        out = np.where(some & ok, moment, np.nan)
    else:
        ok = np.zeros(soonest.shape, dtype=bool)
    for k in np.flatnonzero(some & ~ok).tolist():  # outside the calendar's index: its datetime walk
        out[k] = calendar.add(now, float(soonest[k])).timestamp()
    return out
