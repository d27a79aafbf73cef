"""An internal P2 opened at 17:50 on the Friday before a public holiday (清明, Monday 2026-04-06),
acknowledged, assessed, paused twice, resolved, reopened once. Every due time below is computed by
hand on the calendar Mon–Fri 09:00–12:00 + 13:00–18:00 Asia/Shanghai (8 working hours a day)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from opsagent.sla.clock import incident_clocks
from opsagent.sla.escalation import done_levels, due
from opsagent.sla.service import service_record
from tests.sla.policies import cst, policy

INCIDENT = {"priority": "P2", "requester_type": "internal", "labels": {}}
EVENTS = [
    (cst(2026, 4, 3, 17, 50), "opened"),  # Friday 17:50, 10 working minutes left that day
    (cst(2026, 4, 7, 9, 40), "acknowledged"),  # Tuesday (Monday is the holiday): 10 + 40 min
    (cst(2026, 4, 7, 9, 45), "assessed"),
    (cst(2026, 4, 7, 10, 0), "pending"),  # pause 1: resolution used 10 + 60 = 70 min
    (cst(2026, 4, 7, 14, 0), "resumed"),
    (cst(2026, 4, 8, 11, 0), "pending"),  # pause 2: + Tue 14–18 (4 h) + Wed 9–11 (2 h) = 7 h 10 min
    (cst(2026, 4, 9, 9, 30), "resumed"),
    (cst(2026, 4, 9, 10, 0), "resolved"),  # + 30 min = 7 h 40 min of 24 h: met
    (cst(2026, 4, 10, 9, 0), "reopened"),  # continues with 16 h 20 min left
]


def events_until(moment: datetime) -> list[dict[str, Any]]:
    return [{"at": at, "kind": kind} for at, kind in EVENTS if at <= moment]


def clocks_at(moment: datetime) -> dict[str, Any]:
    return incident_clocks(INCIDENT, events_until(moment), policy(), moment)


def test_response_due_skips_weekend_and_holiday_and_is_met() -> None:
    before_ack = clocks_at(cst(2026, 4, 7, 9, 30))["response"]
    assert before_ack.state == "running"
    assert before_ack.due == cst(2026, 4, 7, 9, 50)  # Fri 10 min + Tue 09:00 + 50 min
    assert not before_ack.breached
    after = clocks_at(cst(2026, 4, 7, 9, 41))["response"]
    assert after.state == "stopped" and after.met
    assert after.used == 50 * 60
    late = incident_clocks(
        INCIDENT, [{"at": cst(2026, 4, 3, 17, 50), "kind": "opened"}], policy(), cst(2026, 4, 7, 9, 51)
    )["response"]
    assert late.breached and late.due == cst(2026, 4, 7, 9, 50)


def test_assessment_met() -> None:
    clock = clocks_at(cst(2026, 4, 7, 9, 46))["assessment"]
    assert clock.met and clock.used == 55 * 60


def test_pause_moves_resolution_due_later_by_the_paused_working_time() -> None:
    running = clocks_at(cst(2026, 4, 8, 10, 59))["resolution"]
    # 24 h - 70 min = 22 h 50 min from Tue 14:00: Tue 4 h, Wed 8 h, Thu 8 h, Fri 09:00 + 2 h 50 min
    assert running.state == "running"
    assert running.due == cst(2026, 4, 10, 11, 50)
    paused = clocks_at(cst(2026, 4, 8, 15, 0))["resolution"]
    # paused with 16 h 50 min left; "if resumed now" (Wed 15:00): Wed 3 h, Thu 8 h, Fri 9–12 + 13:00–15:50
    assert paused.state == "paused"
    assert paused.used == (7 * 60 + 10) * 60
    assert paused.due == cst(2026, 4, 10, 15, 50)
    assert paused.paused_seconds == 4 * 3600 + 4 * 3600  # pause 1, and pause 2 so far
    assert not paused.breached


def test_resolution_stops_at_resolve_and_is_met() -> None:
    clock = clocks_at(cst(2026, 4, 9, 12, 0))["resolution"]
    assert clock.state == "stopped" and clock.met
    assert clock.used == (7 * 60 + 40) * 60
    assert clock.stopped_at == cst(2026, 4, 9, 10, 0)
    # pause 1 lasted 4 h, pause 2 from Wed 11:00 to Thu 09:30 = 22.5 h (wall clock)
    assert clock.paused_seconds == 4 * 3600 + 22.5 * 3600


def test_reopen_continues_the_resolution_clock() -> None:
    at_reopen = clocks_at(cst(2026, 4, 10, 9, 0))["resolution"]
    assert at_reopen.state == "running" and not at_reopen.breached
    assert at_reopen.used == (7 * 60 + 40) * 60  # the night between resolve and reopen did not count
    # 16 h 20 min from Fri 09:00: Fri 8 h, Mon 13th 8 h, Tue 14th 09:00 + 20 min
    assert at_reopen.due == cst(2026, 4, 14, 9, 20)
    monday = clocks_at(cst(2026, 4, 13, 17, 0))["resolution"]
    assert not monday.breached
    tuesday = clocks_at(cst(2026, 4, 14, 9, 30))["resolution"]
    assert tuesday.breached and tuesday.due == cst(2026, 4, 14, 9, 20)
    assert tuesday.used == (24 * 60 + 10) * 60
    # the response and assessment clocks stay as they were: met
    assert clocks_at(cst(2026, 4, 14, 9, 30))["response"].met


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (cst(2026, 4, 3, 17, 55), set()),  # 5 of 60 min
        (cst(2026, 4, 7, 9, 21), {("response", 1)}),  # 31 min: 50 %
        (cst(2026, 4, 7, 9, 51), {("response", 1), ("response", 2)}),  # 61 min: 100 %
        (cst(2026, 4, 7, 10, 20), {("response", 1), ("response", 2), ("response", 3)}),  # 90 min: 150 %
    ],
)
def test_escalation_levels_by_percent(moment: datetime, expected: set[tuple[str, int]]) -> None:
    clocks = incident_clocks(INCIDENT, [{"at": EVENTS[0][0], "kind": "opened"}], policy(), moment)
    steps = due(clocks, policy(), "P2", set(), moment)
    assert {(s.target, s.level) for s in steps} == expected


def test_acknowledged_stops_response_escalation_not_resolution() -> None:
    opened = [{"at": cst(2026, 4, 7, 9, 0), "kind": "opened"}, {"at": cst(2026, 4, 7, 9, 10), "kind": "acknowledged"}]
    moment = cst(2026, 4, 8, 13, 0)  # resolution used: Tue 8 h + Wed 3 h = 11 h of 24 (< 50 %)
    assert due(incident_clocks(INCIDENT, opened, policy(), moment), policy(), "P2", set(), moment) == []
    moment = cst(2026, 4, 8, 14, 0)  # 12 h: 50 % of resolution; response never escalates
    steps = due(incident_clocks(INCIDENT, opened, policy(), moment), policy(), "P2", set(), moment)
    assert [(s.target, s.level) for s in steps] == [("resolution", 1)]
    # the on-call override for Wednesday 8 April names dan instead of the week's member
    assert steps[0].notify == ("person:dan",)
    later = cst(2026, 4, 10, 10, 0)  # Tue–Thu 24 h + 1 h = 104 %: level 2 (1 already done)
    steps = due(incident_clocks(INCIDENT, opened, policy(), later), policy(), "P2", {("resolution", 1)}, later)
    assert [(s.target, s.level) for s in steps] == [("resolution", 2)]
    assert steps[0].notify == ("team:leads", "channel:ops-hook")


def test_done_levels_come_from_escalated_events() -> None:
    events = [
        {"kind": "escalated", "detail": {"target": "response", "level": 1}},
        {"kind": "escalated", "detail": {}},  # a manual escalation does not count as a level
    ]
    assert done_levels(events) == {("response", 1)}


def test_followup_due_three_working_days_after_resolution() -> None:
    cal = policy().followup_calendar()
    # resolved Thu 9 April 10:00 → Fri 10, Mon 13, Tue 14 April 10:00
    assert cal.add_days(cst(2026, 4, 9, 10, 0), 3) == cst(2026, 4, 14, 10, 0)
    # resolved Fri 3 April → Tue 7, Wed 8, Thu 9 (Monday 6 is the holiday)
    assert cal.add_days(cst(2026, 4, 3, 16, 0), 3) == cst(2026, 4, 9, 16, 0)


def test_priority_from_impact_and_urgency_and_p1_is_24x7() -> None:
    p = policy()
    assert p.priority_for("High", "high") == "P1" and p.priority_for("low", "low") == "P4"
    assert p.priority_for(None, "high") is None
    clock = incident_clocks(
        {"priority": "P1", "requester_type": "external", "labels": {}},
        [{"at": cst(2026, 4, 3, 23, 30), "kind": "opened"}],
        p,
        cst(2026, 4, 4, 0, 0),
    )["response"]
    assert clock.due == cst(2026, 4, 4, 1, 30)  # 2 h on Saturday night: 24×7


def test_complex_p3_gets_ten_working_days() -> None:
    p = policy()
    assert p.budgets("P3", "internal")["resolution"] == 5 * 8 * 3600
    assert p.budgets("P3", "internal", complex_=True)["resolution"] == 10 * 8 * 3600


def _two_calendar_policy() -> Any:
    """P3 on a plant calendar working Saturdays, with its own holiday; P1 24×7; P2 on business."""
    data = policy().model_dump()
    data["calendars"]["plant"] = {
        "timezone": "Asia/Shanghai",
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "hours": ["08:00-17:00"],
        "holidays": ["2026-04-13"],
    }
    data["targets"]["P3"]["calendar"] = "plant"
    return type(policy()).model_validate(data)


def test_followup_delay_counts_working_days_of_the_priority_calendar() -> None:
    p = _two_calendar_policy()
    resolved = cst(2026, 4, 9, 10, 0)  # Thursday
    # P3 (plant): Fri 10, Sat 11, (Sun 12 off, Mon 13 plant holiday) Tue 14
    assert p.followup_calendar("P3").add_days(resolved, 3) == cst(2026, 4, 14, 10, 0)
    # P2 (business): Fri 10, Mon 13, Tue 14
    assert p.followup_calendar("P2").add_days(resolved, 3) == cst(2026, 4, 14, 10, 0)
    # Friday 3 April: P3 Sat 4, Mon 6 (no plant holiday), Tue 7; P2 skips the weekend and Monday 6 (清明)
    friday = cst(2026, 4, 3, 16, 0)
    assert p.followup_calendar("P3").add_days(friday, 3) == cst(2026, 4, 7, 16, 0)
    assert p.followup_calendar("P2").add_days(friday, 3) == cst(2026, 4, 9, 16, 0)
    # P1 runs 24×7 but the call-back waits for working days: the default business calendar
    assert p.followup_calendar("P1").add_days(friday, 3) == cst(2026, 4, 9, 16, 0)
    assert p.followup_calendar("P1").add_days(friday, 0) == friday


def test_service_record_followup_due_on_the_priority_calendar() -> None:
    p = _two_calendar_policy()
    friday = cst(2026, 4, 3, 16, 0)
    events = [{"at": cst(2026, 4, 3, 9, 0), "kind": "opened"}, {"at": friday, "kind": "resolved"}]
    base = {"requester_type": "internal", "labels": {}, "events": events, "resolved_at": friday}
    p3 = service_record(base | {"priority": "P3"}, p, friday)
    p2 = service_record(base | {"priority": "P2"}, p, friday)
    assert p3["followup_due_at"] == cst(2026, 4, 7, 16, 0)
    assert p2["followup_due_at"] == cst(2026, 4, 9, 16, 0)
