"""Service-level workflow on a real store (SQLite file and PostgreSQL): pending/resume, assessment,
escalation ticks, follow-up with satisfaction closing and archiving, the projection table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsagent.incidents import repo
from opsagent.incidents.repo import AlertInput, IncidentError
from opsagent.sla import service
from opsagent.store import Store
from tests.sla.policies import policy


def _open(store: Store, name: str = "DiskFull", priority: str = "P1") -> int:
    labels = {"alertname": name, "asset": "db-1", "severity": "critical", "priority": priority, "project": "ERP"}
    incident_id, how = repo.fire(store, AlertInput(fingerprint=name, alertname=name, labels=labels))
    assert how == "opened"
    return incident_id


def test_pending_resume_and_assessment_are_events_and_clocks_follow(store: Store) -> None:
    p = policy()
    iid = _open(store)
    service.act(store, p, iid, "pending", "alice", "waiting for the user's log files")
    with pytest.raises(IncidentError, match="already waiting"):
        service.act(store, p, iid, "pending", "alice")
    paused = service.get(store, p, iid)
    assert paused is not None
    assert paused["clocks"]["resolution"].state == "paused"
    assert paused["clocks"]["response"].state == "running"  # response is never paused
    service.act(store, p, iid, "resume", "alice", "logs received")
    service.act(store, p, iid, "assess", "alice", "disk of the ERP database filled by archive logs")
    found = service.get(store, p, iid)
    assert found is not None
    kinds = [e["kind"] for e in found["events"]]
    assert kinds == ["opened", "pending", "resumed", "assessed"]
    assert found["clocks"]["assessment"].met
    assert found["clocks"]["resolution"].state == "running"
    assert found["service"]["sla"]["assessment"]["met"] is True


@pytest.mark.parametrize("incremental", [False, True])
def test_tick_escalates_once_per_level_and_ack_stops_response_escalation(store: Store, incremental: bool) -> None:
    p = policy()
    state = service.TickState() if incremental else None
    iid = _open(store)
    opened = repo.get(store, iid)["opened_at"]  # type: ignore[index]
    if state is not None:
        assert service.tick(store, p, opened + timedelta(minutes=1), state) == []
        # nothing new and the next level (50 % of the 1 h response) is 29 min away: skipped
        next_check = state.next_check[iid]
        assert next_check is not None
        assert abs((next_check - (opened + timedelta(minutes=30))).total_seconds()) < 1
    fired = service.tick(store, p, opened + timedelta(minutes=31), state)  # P1 24×7: response 1 h → 51 %
    assert [(f.step.target, f.step.level) for f in fired] == [("response", 1)]
    assert fired[0].step.notify[0].startswith("person:")  # the on-call member of the week
    assert service.tick(store, p, opened + timedelta(minutes=40), state) == []  # recorded: not again
    repo.act(store, iid, "ack", "alice")
    fired = service.tick(store, p, opened + timedelta(hours=13), state)  # resolution 24 h → 54 %
    assert [(f.step.target, f.step.level) for f in fired] == [("resolution", 1)]
    fired = service.tick(store, p, opened + timedelta(hours=37), state)  # 154 %
    assert [(f.step.target, f.step.level) for f in fired] == [("resolution", 2), ("resolution", 3)]
    events = repo.get(store, iid)["events"]  # type: ignore[index]
    escalated = [e["detail"] for e in events if e["kind"] == "escalated"]
    assert [(d["target"], d["level"]) for d in escalated] == [
        ("response", 1),
        ("resolution", 1),
        ("resolution", 2),
        ("resolution", 3),
    ]
    assert escalated[2]["notify"] == ["team:leads", "channel:ops-hook"]
    row = service.get(store, p, iid)
    assert row is not None and row["service"]["breached"] is True  # stored by the last tick


def test_followup_lists_due_task_then_feedback_closes_and_archives(store: Store) -> None:
    p = policy()
    iid = _open(store, "LinkDown")
    repo.act(store, iid, "ack", "bob")
    repo.act(store, iid, "resolve", "bob", cause="fibre cut", resolution_steps="moved to the backup link")
    service.act(store, p, iid, "signoff", "bob", signed_by="Wang Wei (user)")
    resolved_at = repo.get(store, iid)["resolved_at"]  # type: ignore[index]
    tasks = service.followups(store, p, resolved_at + timedelta(days=1))
    assert [t["id"] for t in tasks] == [iid] and tasks[0]["due"] is False
    due_at = tasks[0]["followup_due_at"]
    assert due_at == p.followup_calendar().add_days(resolved_at, 3)
    assert service.followups(store, p, due_at + timedelta(minutes=1))[0]["due"] is True
    with pytest.raises(IncidentError, match="1 to 5"):
        service.act(store, p, iid, "followup", "carol", satisfaction=6)
    service.act(store, p, iid, "followup", "carol", "works fine since", satisfaction=4)
    found = service.get(store, p, iid)
    assert found is not None
    assert found["status"] == "closed"
    assert found["service"]["satisfaction"] == 4 and found["service"]["feedback"] == "works fine since"
    assert found["service"]["signed_off_by"] == "Wang Wei (user)"
    assert found["service"]["archived_at"] is not None
    assert [e["kind"] for e in found["events"]][-4:] == ["signed_off", "followed_up", "closed", "archived"]
    assert service.followups(store, p) == []  # done tasks leave the list
    assert [t["satisfaction"] for t in service.followups(store, p, include_done=True)] == [4]
    with pytest.raises(IncidentError, match="already has its follow-up"):
        service.act(store, p, iid, "followup", "carol", satisfaction=5)


def test_classify_sets_priority_from_impact_and_urgency(store: Store) -> None:
    p = policy()
    iid = _open(store, "SlowQueries", priority="P1")
    service.act(store, p, iid, "classify", "alice", impact="low", urgency="low", symptom="reports take 5 minutes")
    found = service.get(store, p, iid)
    assert found is not None
    assert found["priority"] == "P4"
    assert found["service"]["impact"] == "low" and found["service"]["symptom"] == "reports take 5 minutes"
    assert found["clocks"]["resolution"].budget == 10 * 8 * 3600  # P4 on the business calendar


def test_closed_incidents_archive_after_the_policy_delay(store: Store) -> None:
    p = policy(archive_after_days=2)
    iid = _open(store, "PrinterJam", priority="P4")
    repo.act(store, iid, "close", "bob", cause="paper", resolution_steps="removed it")
    closed_at = repo.get(store, iid)["closed_at"]  # type: ignore[index]
    assert service.archive_due(store, p, closed_at + timedelta(days=1)) == []
    assert service.archive_due(store, p, closed_at + timedelta(days=2, minutes=1)) == [iid]
    assert service.archive_due(store, p, closed_at + timedelta(days=3)) == []  # once
    found = service.get(store, p, iid)
    assert found is not None and found["service"]["archived_at"] is not None
    assert found["events"][-1]["kind"] == "archived"


def test_followups_count_working_days_on_the_priority_calendar(store: Store) -> None:
    from sqlalchemy import update

    from opsagent.store import schema
    from tests.sla.policies import cst
    from tests.sla.test_scenario import _two_calendar_policy

    p = _two_calendar_policy()
    p3, p2 = _open(store, "ConveyorStop", priority="P3"), _open(store, "MailQueue", priority="P2")
    friday = cst(2026, 4, 3, 16, 0)  # the day before the 清明 weekend; Monday 6 is a holiday on business only
    for iid in (p3, p2):
        repo.act(store, iid, "resolve", "bob", cause="c", resolution_steps="s")
        with store.transaction() as conn:
            conn.execute(update(schema.incidents).where(schema.incidents.c.id == iid).values(resolved_at=friday))
    tasks = {t["id"]: t for t in service.followups(store, p, cst(2026, 4, 8, 12, 0))}
    assert tasks[p3]["followup_due_at"] == cst(2026, 4, 7, 16, 0) and tasks[p3]["due"] is True
    assert tasks[p2]["followup_due_at"] == cst(2026, 4, 9, 16, 0) and tasks[p2]["due"] is False
