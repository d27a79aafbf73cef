"""SLA clocks of many incidents at once, on numpy arrays: what the tick and the period report use (and,
as a batch of one, :func:`opsagent.sla.clock.compute`).

The rules are those of the datetime reference path (:func:`opsagent.sla.clock.compute_reference`,
the oracle of the property tests), on epoch floats. What makes them cheap in bulk: which branch an
event takes depends only on the *kinds* of the events before it (is a clock running, paused,
stopped?), never on their times. So incidents are grouped by (profile, budgets, calendar, sequence
of clock-relevant kinds), and each group runs the rules once, with one array element per incident:
working time of every event is one ``searchsorted`` over the calendar's working windows (W(t)), a
due time one more (W⁻¹). The only data-dependent choices (is budget left? did time move forward?)
are ``np.where``. A group shares one state per clock.

An incident whose times fall outside the calendar's indexed years is computed by the reference
path, which walks the calendar day by day, into a group of its own.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from opsagent.sla.calendar import Calendar, Timeline
from opsagent.sla.clocktypes import PAUSABLE, STOPS, Clock

STATES = ("running", "paused", "stopped", "pending-start")
RUNNING, PAUSED, STOPPED, PENDING_START = range(4)
_CODE = {name: code for code, name in enumerate(STATES)}
# kinds that move a clock; any other kind (escalated, updated, repeated, …) changes nothing
CLOCK_KINDS = frozenset(
    ("opened", "pending", "resumed", "acknowledged", "reopened", "resolved", "closed", "assessed", "assigned")
) | {"on_site"}  # assigned: the handover clock; on_site: the on-site clock
_RESUMES = frozenset(("resumed", "acknowledged", "reopened"))
_STOPS_ALL = frozenset(("resolved", "closed"))
_STOPS_ONE: dict[str, tuple[str, ...]] = {}
for _target, _kinds in STOPS.items():
    for _kind in _kinds:
        _STOPS_ONE[_kind] = (*_STOPS_ONE.get(_kind, ()), _target)
_NAN = float("nan")


class Arrays(NamedTuple):
    """One clock (target) of every incident of a group; NaN stands for None."""

    state: np.ndarray  # int8 codes into STATES
    budget: float
    used: np.ndarray
    due: np.ndarray  # epoch seconds
    stopped_at: np.ndarray  # epoch seconds
    breached: np.ndarray  # bool
    paused: np.ndarray  # wall-clock seconds spent paused

    @property
    def met(self) -> np.ndarray:
        met: np.ndarray = (self.state == STOPPED) & ~self.breached
        return met


class Group:
    """Incidents (the caller's ``refs``) of one profile, budgets and calendar, with their clocks."""

    __slots__ = ("_clocks", "budgets", "calendar", "clocks", "profile", "reference", "refs")

    def __init__(self, profile: Any, budgets: Mapping[str, float], calendar: Calendar, refs: list[Any]) -> None:
        self.profile, self.budgets, self.calendar, self.refs = profile, budgets, calendar, refs
        self.clocks: dict[str, Arrays] = {}
        self.reference = False  # computed by the datetime reference path (outside the calendar's index)
        self._clocks: list[dict[str, Clock]] | None = None

    def clock_dicts(self) -> list[dict[str, Clock]]:
        """The clocks of each member as :class:`Clock` values, in ``refs`` order."""
        if self._clocks is None:
            per_target = [
                [(name, a.budget, *row) for row in zip(*(v.tolist() for v in (a.used, a.due, a.state, a.stopped_at,
                                                                                  a.breached, a.paused)), strict=True)]
                for name, a in self.clocks.items()
            ]  # fmt: skip
            self._clocks = [{c[0]: _clock(*c) for c in member} for member in zip(*per_target, strict=True)]
            if not per_target:
                self._clocks = [{} for _ in self.refs]
        return self._clocks

    def as_dicts(self) -> list[dict[str, dict[str, Any]]]:
        """Each member's clocks as :meth:`Clock.as_dict` gives them (times as ISO text with
        microseconds), built from the arrays: what the tick writes into the projection."""
        columns: list[tuple[str, float, list[Any]]] = []
        for name, a in self.clocks.items():
            state = [STATES[c] for c in a.state.tolist()]
            cols = (np.rint(a.used * 1000) / 1000, _iso(a.due), state, _iso(a.stopped_at), a.breached,
                    a.met, np.rint(a.paused * 1000) / 1000)  # fmt: skip
            columns.append((name, a.budget, list(zip(*(_list(c) for c in cols), strict=True))))
        out: list[dict[str, dict[str, Any]]] = [{} for _ in self.refs]
        for name, budget, rows in columns:
            for member, (used, due, state, stopped, breached, met, paused) in zip(out, rows, strict=True):
                member[name] = {"target": name, "budget_seconds": budget, "used_seconds": used, "due": due,
                                "state": state, "stopped_at": stopped, "breached": breached, "met": met,
                                "paused_seconds": paused}  # fmt: skip
        return out

    def outcomes(self, targets: Iterable[str]) -> list[str | None]:
        """Per member, once every clock has stopped: a letter per target (``m`` met, ``b``
        breached, ``-`` neither or no such clock); None while a clock can still change."""
        settled = np.ones(len(self.refs), dtype=bool)
        letters: list[list[str]] = []
        for name in targets:
            a = self.clocks.get(name)
            if a is None:
                letters.append(["-"] * len(self.refs))
                continue
            settled &= a.state == STOPPED
            letters.append(np.where(a.breached, "b", np.where(a.met, "m", "-")).tolist())
        return [
            "".join(flags) if ok else None
            for ok, flags in zip(settled.tolist(), zip(*letters, strict=True), strict=True)
        ]


def micros(t: np.ndarray) -> np.ndarray:
    """Epoch seconds as whole microseconds, rounded as ``datetime.fromtimestamp`` rounds; NaN as -1."""
    clean = np.nan_to_num(t, nan=0.0)
    whole = np.floor(clean)
    us = whole.astype(np.int64) * 1_000_000 + np.rint((clean - whole) * 1e6).astype(np.int64)
    return np.where(np.isnan(t), -1, us)


def _iso(t: np.ndarray) -> list[str | None]:
    """ISO 8601 UTC text of epoch seconds (None for NaN), to the microsecond."""
    text = np.datetime_as_string(micros(t).astype("datetime64[us]"), unit="us")
    return [None if v != v else f"{s}+00:00" for v, s in zip(t.tolist(), text.tolist(), strict=True)]


def _list(values: Any) -> list[Any]:
    return values if isinstance(values, list) else values.tolist()


def _clock(name: str, budget: float, used: float, due: float, state: int, stopped: float, breached: bool,
           paused: float) -> Clock:  # fmt: skip
    return Clock(
        name,
        budget,
        used,
        None if due != due else datetime.fromtimestamp(due, UTC),
        STATES[state],
        None if stopped != stopped else datetime.fromtimestamp(stopped, UTC),
        breached,
        paused,
    )


class ClockBatch:
    """Collects incidents, then computes all their clocks at ``now``.

    ``add`` takes an incident's events as (epoch seconds, kind) in log order; like the scalar paths
    it ignores events from the first one stamped after ``now`` on."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.now_t = now.timestamp()
        self._groups: dict[tuple[Any, ...], tuple[list[Any], list[list[float]]]] = {}
        self._profiles: dict[Hashable, tuple[Mapping[str, float], Calendar]] = {}

    def add(
        self,
        ref: Any,
        events: Iterable[tuple[float, str]],
        profile: Hashable,
        budgets: Mapping[str, float],
        calendar: Calendar,
    ) -> None:
        """``profile`` names the budgets and calendar (equal profiles must have equal ones)."""
        now_t = self.now_t
        times: list[float] = []
        kinds: list[str] = []
        for t, kind in events:
            if t > now_t:
                break
            if kind in CLOCK_KINDS:
                times.append(t)
                kinds.append(kind)
        key = (profile, *kinds)
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = ([], [])
            self._profiles.setdefault(profile, (budgets, calendar))
        found[0].append(ref)
        found[1].append(times)

    def compute(self) -> list[Group]:
        out: list[Group] = []
        for (profile, *kinds), (refs, times) in self._groups.items():
            budgets, calendar = self._profiles[profile]
            out += _compute_group(profile, budgets, calendar, tuple(kinds), refs, times, self.now, self.now_t)
        return out


def _compute_group(
    profile: Hashable,
    budgets: Mapping[str, float],
    calendar: Calendar,
    kinds: tuple[str, ...],
    refs: list[Any],
    times: list[list[float]],
    now: datetime,
    now_t: float,
) -> list[Group]:
    line = calendar.timeline()
    now_w = line.worked(now_t)
    m = len(refs)
    if now_w is None:
        bad = np.ones(m, dtype=bool)
        group = Group(profile, budgets, calendar, [])
    else:
        matrix = np.array(times, dtype=np.float64).reshape(m, len(kinds))
        worked, ok = line.worked_many(matrix)
        machine = _Machine(budgets, line, m, np.logical_not(np.all(ok, axis=1)))
        for k, kind in enumerate(kinds):
            machine.apply(kind, matrix[:, k], worked[:, k])
        group = Group(profile, budgets, calendar, refs)
        group.clocks = machine.finish(now_t, now_w)
        bad = machine.bad
    if not bad.any():
        return [group]
    keep = np.flatnonzero(~bad)
    if group.refs:
        group.refs = [refs[i] for i in keep.tolist()]
        group.clocks = {n: Arrays(a.state[keep], a.budget, *(v[keep] for v in a[2:])) for n, a in group.clocks.items()}
    out = [group] if len(keep) else []
    for i in np.flatnonzero(bad).tolist():
        out.append(_one_by_one(profile, budgets, calendar, kinds, refs[i], times[i], now))
    return out


def _one_by_one(
    profile: Hashable,
    budgets: Mapping[str, float],
    calendar: Calendar,
    kinds: tuple[str, ...],
    ref: Any,
    times: list[float],
    now: datetime,
) -> Group:
    from opsagent.sla.clock import compute_reference  # clock imports this module

    events = [{"at": datetime.fromtimestamp(t, UTC), "kind": k} for t, k in zip(times, kinds, strict=True)]
    clocks = compute_reference(events, budgets, calendar, now)
    group = Group(profile, budgets, calendar, [ref])
    group.reference = True
    group._clocks = [clocks]
    for name, c in clocks.items():
        group.clocks[name] = Arrays(
            np.array([_CODE[c.state]], dtype=np.int8),
            c.budget,
            np.array([c.used]),
            np.array([c.due.timestamp() if c.due else _NAN]),
            np.array([c.stopped_at.timestamp() if c.stopped_at else _NAN]),
            np.array([c.breached]),
            np.array([c.paused_seconds]),
        )
    return group


def _span(end: np.ndarray | float, start: np.ndarray) -> np.ndarray:
    """Working seconds between two points of the line, to the microsecond. Epoch floats near 1.7e9
    carry ~0.2 µs of rounding each; event times (and the reference path's timedeltas) are whole
    microseconds, so rounding the difference makes both paths agree exactly at a budget's edge
    (hypothesis found a pause within 1 µs of a fractional budget)."""
    return np.rint((end - start) * 1e6) / 1e6


class _Run:
    """One clock of a group: which state it is in is shared (it follows from the kinds); the
    numbers are arrays."""

    __slots__ = ("budget", "due", "paused", "paused_at", "since_t", "since_w", "stopped", "stopped_at", "used")

    def __init__(self, budget: float, m: int) -> None:
        self.budget = budget
        self.used = np.zeros(m)
        self.since_t: np.ndarray | None = None
        self.since_w: np.ndarray = self.used
        self.paused_at: np.ndarray | None = None
        self.stopped = False
        self.stopped_at: np.ndarray | None = None
        self.paused = np.zeros(m)
        self.due = np.full(m, _NAN)


class _Machine:
    """The clock rules (see :mod:`opsagent.sla.clock`) over arrays."""

    def __init__(self, budgets: Mapping[str, float], line: Timeline, m: int, bad: np.ndarray) -> None:
        self.runs = {name: _Run(budget, m) for name, budget in budgets.items()}
        self.line = line
        self.bad = bad

    def _due(self, worked: np.ndarray, floor: np.ndarray | float, where: np.ndarray, old: np.ndarray) -> np.ndarray:
        floor_arr = np.broadcast_to(np.asarray(floor, dtype=np.float64), worked.shape)
        moment, ok = self.line.moment_many(np.where(where, worked, 0.0), floor_arr)
        self.bad |= where & ~ok
        return np.where(where, moment, old)

    def apply(self, kind: str, t: np.ndarray, w: np.ndarray) -> None:  # noqa: C901 - one table, as the reference's
        runs = self.runs
        if kind == "opened":
            for run in runs.values():
                if run.since_t is None and not run.stopped and run.paused_at is None:
                    run.since_t, run.since_w = t, w
            return
        if kind == "pending":
            for name in PAUSABLE:
                paused = runs.get(name)
                if paused is not None and paused.since_t is not None:
                    self._stop_segment(paused, w)
                    paused.paused_at = t
            return
        if kind in _RESUMES:
            self._resume_all(t, w)
            if kind == "reopened":
                resolution = runs.get("resolution")
                if resolution is not None and resolution.stopped:
                    resolution.stopped, resolution.stopped_at = False, None
                    resolution.since_t, resolution.since_w = t, w
                return
        if kind in _STOPS_ALL:
            self._resume_all(t, w)  # a pause ends with the fix
            for run in runs.values():
                self._stop(run, t, w)
            return
        for target in _STOPS_ONE.get(kind, ()):
            if target in runs:
                self._stop(runs[target], t, w)

    def _resume_all(self, t: np.ndarray, w: np.ndarray) -> None:
        for run in self.runs.values():
            if run.paused_at is not None:
                run.paused = run.paused + (t - run.paused_at)
                run.paused_at = None
                run.since_t, run.since_w = t, w

    def _stop_segment(self, run: _Run, w: np.ndarray) -> None:
        if run.since_t is not None:
            left = run.used < run.budget
            run.due = self._due(run.since_w + (run.budget - run.used), run.since_t, left, run.due)
            run.used = run.used + np.where(w > run.since_w, _span(w, run.since_w), 0.0)
            run.since_t = None

    def _stop(self, run: _Run, t: np.ndarray, w: np.ndarray) -> None:
        if run.stopped or (run.since_t is None and run.paused_at is None):
            return
        if run.paused_at is not None:
            run.paused = run.paused + (t - run.paused_at)
            run.paused_at = None
        self._stop_segment(run, w)
        run.stopped, run.stopped_at = True, t

    def finish(self, now_t: float, now_w: float) -> dict[str, Arrays]:
        out: dict[str, Arrays] = {}
        for name, run in self.runs.items():
            used, due, paused, budget = run.used, run.due, run.paused, run.budget
            m = used.shape[0]
            if run.since_t is not None:
                state = RUNNING
                used = used + np.where(now_w > run.since_w, _span(now_w, run.since_w), 0.0)
                due = self._due(run.since_w + (budget - run.used), run.since_t, run.used < budget, due)
            elif run.paused_at is not None:
                state = PAUSED
                paused = paused + (now_t - run.paused_at)
                # while paused the due time is "if work resumed now": it only ever moves later
                due = self._due(now_w + (budget - used), now_t, used < budget, due)
            elif run.stopped:
                state = STOPPED
            else:
                state = PENDING_START
            breached = used > budget
            if state == RUNNING:  # breached once its due time has passed, even outside working time
                breached |= (now_t > due) & (used >= budget)
            stopped_at = run.stopped_at if run.stopped_at is not None else np.full(m, _NAN)
            out[name] = Arrays(np.full(m, state, dtype=np.int8), budget, used, due, stopped_at, breached, paused)
        return out
