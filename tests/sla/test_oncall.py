"""On-call hand-overs step from the rotation's anchor, not from now, and overrides are hand-overs too."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from opsagent.sla.oncall import on_call, shifts
from tests.sla.policies import policy

CST = ZoneInfo("Asia/Shanghai")


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


def test_handovers_follow_the_anchor_and_show_overrides() -> None:
    rotation = policy().oncall["ops"]  # weekly from Monday 2026-03-30 09:00; dan covers 04-08
    now = cst(2026, 4, 5, 22, 46)  # a Sunday evening
    got = [(at.astimezone(CST), who) for at, who in shifts(rotation, now, 4)]
    assert got == [
        (cst(2026, 3, 30, 9, 0), "ann"),  # the shift in force, from when it began
        (cst(2026, 4, 6, 9, 0), "bob"),  # Monday 09:00, not "Sunday 22:46"
        (cst(2026, 4, 8, 0, 0), "dan"),  # the one-day override shows
        (cst(2026, 4, 9, 0, 0), "bob"),
        (cst(2026, 4, 13, 9, 0), "cai"),
    ]
    assert on_call(rotation, now) == got[0][1]


def test_the_current_shift_during_an_override_starts_at_the_override() -> None:
    rotation = policy().oncall["ops"]
    got = shifts(rotation, cst(2026, 4, 8, 12, 0), 1)
    assert [(at.astimezone(CST), who) for at, who in got] == [(cst(2026, 4, 8), "dan"), (cst(2026, 4, 9), "bob")]
