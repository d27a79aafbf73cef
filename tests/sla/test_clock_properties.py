"""Property-based tests of the calendar and the SLA clock (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from opsagent.sla import escalation
from opsagent.sla.batch import ClockBatch
from opsagent.sla.clock import compute, compute_reference
from opsagent.sla.policy import CalendarSpec
from tests.sla.policies import policy as sla_policy

BUSINESS = CalendarSpec(hours=["09:00-12:00", "13:00-18:00"], holidays=["2026-04-06", "2026-05-01"]).build("b")
# New York changes clocks on 8 March and 1 November 2026; a shift that crosses midnight too
NEW_YORK = CalendarSpec(
    timezone="America/New_York",
    weekdays=["mon", "tue", "wed", "thu", "fri", "sat"],
    hours=["01:00-03:30", "20:00-24:00"],
).build("ny")
ALWAYS = CalendarSpec(always=True).build("24x7")
CALENDARS = st.sampled_from([BUSINESS, NEW_YORK, ALWAYS])

moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20)).map(
    lambda d: d.replace(tzinfo=UTC)
)
budgets = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False)


def _in_window(cal: Any, moment: datetime) -> bool:
    return any(lo <= moment <= hi for lo, hi in _first_windows(cal, moment - timedelta(days=2), 10))


def _first_windows(cal: Any, start: datetime, n: int) -> list[tuple[datetime, datetime]]:
    out = []
    for window in cal.windows(start):
        out.append(window)
        if len(out) >= n:
            break
    return out


@settings(max_examples=200, deadline=None)
@given(cal=CALENDARS, start=moments, seconds=budgets)
def test_add_then_between_round_trips(cal: Any, start: datetime, seconds: float) -> None:
    due = cal.add(start, seconds)
    assert due >= start
    assert abs(cal.between(start, due) - seconds) < 1e-3


@settings(max_examples=200, deadline=None)
@given(cal=CALENDARS, start=moments, seconds=st.floats(min_value=1, max_value=30 * 86400))
def test_due_times_fall_in_working_time_never_in_gaps(cal: Any, start: datetime, seconds: float) -> None:
    due = cal.add(start, seconds)
    assert cal is ALWAYS or _in_window(cal, due)
    local = due.astimezone(cal.tz)
    if cal is BUSINESS:
        assert local.weekday() < 5 and local.date().isoformat() not in ("2026-04-06", "2026-05-01")
        assert (9, 0) <= (local.hour, local.minute) <= (18, 0)
        assert not ((12, 0) < (local.hour, local.minute) < (13, 0))


@settings(max_examples=200, deadline=None)
@given(cal=CALENDARS, start=moments, a=budgets, b=budgets)
def test_add_is_monotonic(cal: Any, start: datetime, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert cal.add(start, lo) <= cal.add(start, hi)


@settings(max_examples=100, deadline=None)
@given(
    start=st.sampled_from([datetime(2026, 3, 7, 22, 0, tzinfo=UTC), datetime(2026, 10, 31, 22, 0, tzinfo=UTC)]),
    hours=st.integers(min_value=1, max_value=60),
)
def test_dst_weeks_count_wall_clock_windows(start: datetime, hours: int) -> None:
    """Across a DST change, each working day still holds 2.5 h + 4 h of working time."""
    due = NEW_YORK.add(start, hours * 3600)
    assert abs(NEW_YORK.between(start, due) - hours * 3600) < 1e-3
    local = due.astimezone(NEW_YORK.tz)
    assert (1, 0) <= (local.hour, local.minute) <= (3, 30) or local.hour >= 20 or (local.hour, local.minute) == (0, 0)


def _timeline(draw: Any, start: datetime) -> list[dict[str, Any]]:
    kinds = draw(
        st.lists(
            st.sampled_from(["pending", "resumed", "acknowledged", "resolved", "reopened", "assessed"]), max_size=8
        )
    )
    gaps = draw(st.lists(st.integers(min_value=60, max_value=5 * 86400), min_size=len(kinds), max_size=len(kinds)))
    events = [{"at": start, "kind": "opened"}]
    at = start
    for kind, gap in zip(kinds, gaps, strict=True):
        at += timedelta(seconds=gap)
        events.append({"at": at, "kind": kind})
    return events


@st.composite
def timelines(draw: Any) -> tuple[list[dict[str, Any]], datetime]:
    start = draw(moments)
    events = _timeline(draw, start)
    now = events[-1]["at"] + timedelta(seconds=draw(st.integers(min_value=0, max_value=10 * 86400)))
    return events, now


BUDGETS = {"response": 3600.0, "assessment": 86400.0, "resolution": 5 * 8 * 3600.0}


@settings(max_examples=300, deadline=None)
@given(
    cal=CALENDARS,
    timeline=timelines(),
    pause_at=st.integers(min_value=0, max_value=10 * 86400),
    pause_for=st.integers(min_value=1, max_value=5 * 86400),
)
def test_pausing_never_shortens_a_due_time(cal: Any, timeline: Any, pause_at: int, pause_for: int) -> None:
    events, now = timeline
    start = events[0]["at"]
    p0 = start + timedelta(seconds=pause_at)
    p1 = p0 + timedelta(seconds=pause_for)
    # a pause of an otherwise running clock: inserted only where no other event falls inside it
    if any(p0 <= e["at"] <= p1 for e in events[1:]) or p0 <= start:
        return
    paused = sorted([*events, {"at": p0, "kind": "pending"}, {"at": p1, "kind": "resumed"}], key=lambda e: e["at"])
    later_now = max(now, p1)
    without = compute(events, BUDGETS, cal, later_now)
    with_pause = compute(paused, BUDGETS, cal, later_now)
    before = compute(events, BUDGETS, cal, p0)
    for name in ("assessment", "resolution"):
        if before[name].state != "running":  # the property is about pausing a running clock
            continue
        a, b = without[name], with_pause[name]
        assert b.used <= a.used + 1e-6
        if a.due is not None and b.due is not None:
            assert b.due >= a.due
        assert not (b.breached and not a.breached)


@settings(max_examples=300, deadline=None)
@given(cal=CALENDARS, timeline=timelines())
def test_clock_invariants(cal: Any, timeline: Any) -> None:
    events, now = timeline
    clocks = compute(events, BUDGETS, cal, now)
    for clock in clocks.values():
        assert 0 <= clock.used <= cal.between(events[0]["at"], now) + 1e-6  # never more than elapsed work time
        assert (clock.used > clock.budget) <= clock.breached <= (clock.used >= clock.budget)
        if clock.state == "running" and clock.due is not None:
            assert clock.breached == (now > clock.due)
        assert clock.paused_seconds >= 0


@settings(max_examples=200, deadline=None)
@given(
    cal=CALENDARS,
    start=moments,
    work=st.integers(min_value=60, max_value=3600),
    gap=st.integers(min_value=60, max_value=30 * 86400),
)
def test_reopen_never_breaches_at_once(cal: Any, start: datetime, work: int, gap: int) -> None:
    resolved = cal.add(start, work)
    reopened = resolved + timedelta(seconds=gap)
    events = [
        {"at": start, "kind": "opened"},
        {"at": resolved, "kind": "resolved"},
        {"at": reopened, "kind": "reopened"},
    ]
    clock = compute(events, BUDGETS, cal, reopened)["resolution"]
    assert clock.state == "running" and not clock.breached
    assert abs(clock.used - work) < 1e-3


@st.composite
def logs(draw: Any) -> tuple[list[dict[str, Any]], datetime]:
    """Any event log: kinds in any order (repeats, closed, escalated), sub-second gaps, now anywhere."""
    start = draw(moments) + timedelta(microseconds=draw(st.integers(min_value=0, max_value=999_999)))
    kinds = st.sampled_from(
        ["pending", "resumed", "acknowledged", "resolved", "reopened", "assessed", "closed", "escalated", "opened"]
    )
    events = [{"at": start, "kind": "opened"}]
    at = start
    for kind in draw(st.lists(kinds, max_size=12)):
        at += timedelta(seconds=draw(st.floats(min_value=0, max_value=6 * 86400, allow_nan=False)))
        events.append({"at": at, "kind": kind})
    now = start + timedelta(seconds=draw(st.floats(min_value=0, max_value=40 * 86400, allow_nan=False)))
    return events, now


@settings(max_examples=500, deadline=None)
@given(
    cal=CALENDARS,
    log=logs(),
    budget=st.dictionaries(
        st.sampled_from(["response", "assessment", "resolution"]),
        st.one_of(st.just(0.0), st.floats(min_value=1, max_value=20 * 86400, allow_nan=False)),
    ),
)
# Found by hypothesis: paused within a microsecond of a fractional budget (epoch-float rounding)
@example(
    cal=ALWAYS,
    log=(
        [{"at": datetime(2026, 1, 1, tzinfo=UTC), "kind": "opened"},
         {"at": datetime(2026, 1, 1, 0, 0, 1, 974822, tzinfo=UTC), "kind": "pending"}],
        datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC),
    ),
    budget={"assessment": 1.9748220008277713},
)  # fmt: skip
def test_fast_clock_equals_the_reference_path(cal: Any, log: Any, budget: dict[str, float]) -> None:
    """The epoch-float clock (the numpy batch, the production path) agrees with datetime arithmetic
    on the calendar."""
    events, now = log
    batch = ClockBatch(now)
    batch.add(0, [(e["at"].timestamp(), e["kind"]) for e in events], "p", budget, cal)
    (group,) = batch.compute()
    assert not group.reference  # 2026 lies inside every calendar's index: the array path ran
    fast = group.clock_dicts()[0]
    slow = compute_reference(events, budget, cal, now)
    assert fast.keys() == slow.keys()
    for name, a in fast.items():
        b = slow[name]
        assert (a.state, a.stopped_at, a.budget) == (b.state, b.stopped_at, b.budget), name
        assert abs(a.used - b.used) < 1e-3 and abs(a.paused_seconds - b.paused_seconds) < 1e-3, name
        assert (a.due is None) == (b.due is None), name
        if a.due is not None and b.due is not None:
            assert abs((a.due - b.due).total_seconds()) < 1e-3, name
        near_edge = b.due is not None and abs((now - b.due).total_seconds()) < 1e-3
        assert a.breached == b.breached or near_edge or abs(b.used - b.budget) < 1e-3, name


def test_times_outside_the_calendar_index_take_the_reference_path() -> None:
    old = datetime(1999, 12, 31, 17, 0, tzinfo=UTC)
    events = [{"at": old, "kind": "opened"}]
    clocks = compute(events, BUDGETS, BUSINESS, old + timedelta(days=3))
    assert clocks == compute_reference(events, BUDGETS, BUSINESS, old + timedelta(days=3))
    assert clocks["response"].due == BUSINESS.add(old, 3600)


@settings(max_examples=500, deadline=None)
@given(
    cal=CALENDARS,
    log=logs(),
    budget=st.dictionaries(
        st.sampled_from(["response", "assessment", "resolution"]),
        st.one_of(st.just(0.0), st.floats(min_value=1, max_value=20 * 86400, allow_nan=False)),
    ),
)
def test_period_outcomes_equal_the_reference_clocks(cal: Any, log: Any, budget: dict[str, float]) -> None:
    """What the period report counts (breached / met per target, from the batch's arrays) agrees
    with the reference clocks."""
    events, now = log
    batch = ClockBatch(now)
    batch.add(0, [(e["at"].timestamp(), e["kind"]) for e in events], "p", budget, cal)
    (group,) = batch.compute()
    for name, clock in compute_reference(events, budget, cal, now).items():
        edge = clock.due is not None and abs((now - clock.due).total_seconds()) < 1e-3
        arrays = group.clocks[name]
        if not edge and abs(clock.used - clock.budget) >= 1e-3:
            assert (bool(arrays.breached[0]), bool(arrays.met[0])) == (clock.breached, clock.met), name


def _batch_clocks(
    logs: list[tuple[list[dict[str, Any]], float]], budget: dict[str, float], cal: Any, now: datetime
) -> tuple[dict[int, Any], dict[int, Any]]:
    batch = ClockBatch(now)
    for ref, (events, _) in enumerate(logs):
        batch.add(ref, [(e["at"].timestamp(), e["kind"]) for e in events], "p", budget, cal)
    out: dict[int, Any] = {}
    written: dict[int, Any] = {}
    for group in batch.compute():
        out.update(zip(group.refs, group.clock_dicts(), strict=True))
        written.update(zip(group.refs, group.as_dicts(), strict=True))
    return out, written


@settings(max_examples=300, deadline=None)
@given(
    cal=CALENDARS,
    log=logs(),
    shifts=st.lists(st.floats(min_value=-3 * 86400, max_value=3 * 86400, allow_nan=False), max_size=4),
    budget=st.dictionaries(
        st.sampled_from(["response", "assessment", "resolution"]),
        st.one_of(st.just(0.0), st.floats(min_value=1, max_value=20 * 86400, allow_nan=False)),
    ),
)
def test_batch_members_equal_each_computed_alone(
    cal: Any, log: Any, shifts: list[float], budget: dict[str, float]
) -> None:
    """A group's members get exactly the clocks each gets alone (``compute``, a batch of one): the
    same log shifted in time falls in the same group, so groups have several members. And what the
    tick stores is :meth:`Clock.as_dict`, times as ISO text to the microsecond."""
    events, now = log
    logs_ = [(events, 0.0)] + [
        ([{"at": e["at"] + timedelta(seconds=s), "kind": e["kind"]} for e in events], s) for s in shifts
    ]
    got, written = _batch_clocks(logs_, budget, cal, now)
    assert set(got) == set(range(len(logs_)))
    for ref, (evs, _) in enumerate(logs_):
        expected = compute(evs, budget, cal, now)
        assert got[ref] == expected, ref
        for name, clock in expected.items():
            stored, wanted = written[ref][name], clock.as_dict()
            assert stored.keys() == wanted.keys()
            for field in ("due", "stopped_at"):
                parsed = datetime.fromisoformat(stored[field]) if stored[field] else None
                assert parsed == (datetime.fromisoformat(wanted[field]) if wanted[field] else None), field
                stored.pop(field), wanted.pop(field)
            assert stored == wanted, name


def test_batch_clocks_outside_the_calendar_index_take_the_reference_path() -> None:
    old = datetime(1999, 12, 31, 17, 0, tzinfo=UTC)
    recent = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    logs_ = [([{"at": old, "kind": "opened"}], 0.0), ([{"at": recent, "kind": "opened"}], 0.0)]
    now = datetime(2026, 3, 3, tzinfo=UTC)
    got, _ = _batch_clocks(logs_, BUDGETS, BUSINESS, now)
    assert got[0] == compute_reference(logs_[0][0], BUDGETS, BUSINESS, now)
    assert got[1] == compute(logs_[1][0], BUDGETS, BUSINESS, now)
    assert got[0]["response"].due == BUSINESS.add(old, 3600)


def _masks(refs: list[int], dones: list[set[tuple[str, int]]]) -> dict[tuple[str, int], Any]:
    masks: dict[tuple[str, int], Any] = {}
    for k, ref in enumerate(refs):
        for key in dones[ref]:
            masks.setdefault(key, np.zeros(len(refs), dtype=bool))[k] = True
    return masks


@settings(max_examples=200, deadline=None)
@given(
    log=logs(),
    shifts=st.lists(st.floats(min_value=-3 * 86400, max_value=3 * 86400, allow_nan=False), max_size=3),
    done=st.lists(st.sets(st.tuples(st.sampled_from(["response", "resolution"]), st.integers(1, 3))), max_size=4),
)
def test_batch_escalations_and_next_checks_equal_the_scalar_rules(log: Any, shifts: list[float], done: Any) -> None:
    events, now = log
    policy = sla_policy()  # escalation of response and resolution at 50 / 100 / 150 %
    budget, cal = policy.budgets("P2", "internal"), policy.calendar_for("P2")
    logs_ = [(events, 0.0)] + [
        ([{"at": e["at"] + timedelta(seconds=s), "kind": e["kind"]} for e in events], s) for s in shifts
    ]
    dones = [set(done[k]) if k < len(done) else set() for k in range(len(logs_))]
    batch = ClockBatch(now)
    for ref, (evs, _) in enumerate(logs_):
        batch.add(ref, [(e["at"].timestamp(), e["kind"]) for e in evs], "P2", budget, cal)
    for group in batch.compute():
        masks = _masks(group.refs, dones)
        fired: dict[int, list[Any]] = {ref: [] for ref in group.refs}
        for members, step in escalation.due_many(group.clocks, policy, "P2", masks, now, {}):
            for k in members.tolist():
                fired[group.refs[k]].append(step)
        for k, ref in enumerate(group.refs):
            clocks = group.clock_dicts()[k]
            expected = escalation.due(clocks, policy, "P2", dones[ref], now)
            assert sorted((s.target, s.level) for s in fired[ref]) == sorted((s.target, s.level) for s in expected)
            dones[ref] |= {(s.target, s.level) for s in expected}
        masks = _masks(group.refs, dones)
        nxt = escalation.next_check_many(group.clocks, policy, "P2", masks, now)
        for k, ref in enumerate(group.refs):
            expected_at = escalation.next_check(group.clock_dicts()[k], policy, "P2", dones[ref], now)
            if expected_at is None:
                assert np.isnan(nxt[k]), ref
            else:
                assert abs(nxt[k] - expected_at.timestamp()) < 1e-3, ref
