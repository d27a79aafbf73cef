"""SLA clocks recomputed from the event log alone: a pure function, no stored timers.

Rules (what GLPI/Zammad get wrong, done explicitly):
- every clock starts at ``opened``; ``acknowledged`` stops *response*, ``assessed`` stops
  *assessment*, ``resolved``/``closed`` stop *resolution* (and any clock still running: a fix is
  also an answer);
- ``pending`` (waiting on the requester) pauses assessment and resolution; ``resumed`` — or any
  person's reply that ends the wait: acknowledged/resolved/reopened — restarts them. Response is never
  paused: nobody can wait on a requester they have not answered yet;
- ``reopened`` continues the resolution clock with the working time it had already used, so a
  reopen neither restarts the clock nor breaches it at once;
- only working time on the priority's calendar counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opsagent.sla.batch import ClockBatch
from opsagent.sla.calendar import Calendar
from opsagent.sla.clocktypes import PAUSABLE, STOPS, Clock
from opsagent.sla.policy import TARGETS, ServiceLevelPolicy


@dataclass
class _Run:
    budget: float
    used: float = 0.0
    since: datetime | None = None  # start of the current running segment
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    paused_seconds: float = 0.0
    due: datetime | None = None


def compute(
    events: Iterable[Mapping[str, Any]], budgets: Mapping[str, float], calendar: Calendar, now: datetime
) -> dict[str, Clock]:
    """Clocks at ``now`` from events (dicts with ``at`` and ``kind``, in log order).

    Computed on epoch floats through the calendar's timeline, as a batch of one (see
    :mod:`opsagent.sla.batch`); a log reaching outside the calendar's indexed years takes the
    datetime reference path."""
    batch = ClockBatch(now)
    batch.add(0, [(e["at"].timestamp(), str(e["kind"])) for e in events], None, budgets, calendar)
    (group,) = batch.compute()
    return group.clock_dicts()[0]


def compute_reference(
    events: Iterable[Mapping[str, Any]], budgets: Mapping[str, float], calendar: Calendar, now: datetime
) -> dict[str, Clock]:
    """The same clocks by datetime arithmetic on the calendar: the oracle of the batch path."""
    runs = {name: _Run(budget) for name, budget in budgets.items()}
    for event in events:
        at: datetime = event["at"]
        if at > now:
            break
        _apply(runs, str(event["kind"]), at, calendar)
    return {name: _finish(name, run, calendar, now) for name, run in runs.items()}


def _apply(runs: dict[str, _Run], kind: str, at: datetime, calendar: Calendar) -> None:  # noqa: C901 - one table
    if kind == "opened":
        for run in runs.values():
            if run.since is None and run.stopped_at is None and run.paused_at is None:
                run.since = at
        return
    if kind == "pending":
        for name in PAUSABLE:
            paused = runs.get(name)
            if paused is not None and paused.since is not None:
                _stop_segment(paused, at, calendar)
                paused.paused_at = at
        return
    if kind in ("resumed", "acknowledged", "reopened"):
        _resume_all(runs, at)
    if kind == "reopened":
        resolution = runs.get("resolution")
        if resolution is not None and resolution.stopped_at is not None:
            resolution.stopped_at = None
            resolution.since = at
        return
    if kind in ("resolved", "closed"):
        _resume_all(runs, at)  # a pause ends with the fix
        for run in runs.values():
            _stop(run, at, calendar)
        return
    for name, stop_kinds in STOPS.items():
        if kind in stop_kinds and name in runs:
            _stop(runs[name], at, calendar)


def _resume_all(runs: dict[str, _Run], at: datetime) -> None:
    for run in runs.values():
        if run.paused_at is not None:
            run.paused_seconds += (at - run.paused_at).total_seconds()
            run.paused_at = None
            run.since = at


def _stop_segment(run: _Run, at: datetime, calendar: Calendar) -> None:
    if run.since is not None:
        run.due = calendar.add(run.since, run.budget - run.used) if run.used < run.budget else run.due
        run.used += calendar.between(run.since, at)
        run.since = None


def _stop(run: _Run, at: datetime, calendar: Calendar) -> None:
    if run.stopped_at is not None or (run.since is None and run.paused_at is None):
        return
    if run.paused_at is not None:
        run.paused_seconds += (at - run.paused_at).total_seconds()
        run.paused_at = None
    _stop_segment(run, at, calendar)
    run.stopped_at = at


def _finish(name: str, run: _Run, calendar: Calendar, now: datetime) -> Clock:
    used, due = run.used, run.due
    paused = run.paused_seconds
    if run.since is not None:
        state = "running"
        used += calendar.between(run.since, now)
        due = calendar.add(run.since, run.budget - run.used) if run.used < run.budget else due
    elif run.paused_at is not None:
        state = "paused"
        paused += (now - run.paused_at).total_seconds()
        # while paused the due time is "if work resumed now": it only ever moves later
        due = calendar.add(now, run.budget - used) if used < run.budget else due
    elif run.stopped_at is not None:
        state = "stopped"
    else:
        state = "pending-start"
    # A running clock is breached once its due time has passed, even outside working time
    # (due Friday 18:00 is breached on Saturday although no working second was added).
    breached = used > run.budget or (state == "running" and due is not None and now > due and used >= run.budget)
    return Clock(name, run.budget, used, due, state, run.stopped_at, breached, paused)


def incident_clocks(
    incident: Mapping[str, Any], events: Iterable[Mapping[str, Any]], policy: ServiceLevelPolicy, now: datetime
) -> dict[str, Clock]:
    """Clocks of one incident under the policy (its current priority, requester type, complexity)."""
    complex_ = str((incident.get("labels") or {}).get("complexity", "")).lower() == "complex"
    kind, contract = incident.get("type") or "incident", incident.get("contract") or ""
    budgets = policy.budgets(incident["priority"], incident["requester_type"], complex_, kind, contract)
    return compute(events, budgets, policy.profile_calendar(incident["priority"], kind, contract), now)


__all__ = ["TARGETS", "Clock", "compute", "incident_clocks"]
