"""The bulk, incremental SLA tick on a real store (SQLite file and PostgreSQL): what it recomputes,
what it writes, and that it agrees with a full recompute from the event log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from opsagent.incidents import repo
from opsagent.incidents.repo import AlertInput
from opsagent.sla import service
from opsagent.store import Store, schema
from tests.sla.policies import policy


def _open(store: Store, name: str, priority: str = "P1") -> int:
    labels = {"alertname": name, "asset": "db-1", "severity": "critical", "priority": priority}
    incident_id, how = repo.fire(store, AlertInput(fingerprint=name, alertname=name, labels=labels))
    assert how == "opened"
    return incident_id


def _projection(store: Store, incident_id: int) -> dict | None:
    s = schema.incident_service.c
    with store.engine.connect() as conn:
        row = conn.execute(select(s.sla, s.breached, s.updated_at).where(s.incident_id == incident_id)).first()
    return dict(row._mapping) if row is not None else None


def _shown(sla: dict) -> dict:
    # a paused clock's due time means "if work resumed now": it moves with the tick's time
    return {n: (c["state"], c["due"] if c["state"] != "paused" else None, c["breached"]) for n, c in sla.items()}


def test_incremental_tick_recomputes_only_changed_incidents_and_writes_only_changes(store: Store) -> None:
    p = policy()
    a, b = _open(store, "DiskFull"), _open(store, "LinkDown")
    opened = repo.get(store, a)["opened_at"]  # type: ignore[index]
    state = service.TickState()
    service.tick(store, p, opened + timedelta(minutes=1), state)
    first = _projection(store, b)
    assert first is not None and first["sla"]["response"]["state"] == "running"
    # nothing happened to b, no threshold reached: its row is not rewritten
    service.tick(store, p, opened + timedelta(minutes=2), state)
    assert _projection(store, b)["updated_at"] == first["updated_at"]  # type: ignore[index]
    # a resolved incident gets its final projection (every clock stopped, met) on the next tick
    repo.act(store, a, "ack", "alice")
    repo.act(store, a, "resolve", "alice", cause="c", resolution_steps="s")
    service.tick(store, p, opened + timedelta(minutes=3), state)
    final = _projection(store, a)
    assert final is not None
    assert {c["state"] for c in final["sla"].values()} == {"stopped"}
    assert final["sla"]["response"]["met"] is True and final["breached"] is False
    assert a not in state.next_check and b in state.next_check
    # a threshold reached with no new event (P1 24×7 response 1 h): b breaches and is rewritten
    fired = service.tick(store, p, opened + timedelta(minutes=61), state)
    assert {(f.incident_id, f.step.target) for f in fired} >= {(b, "response")}
    assert _projection(store, b)["breached"] is True  # type: ignore[index]


def test_incremental_ticks_agree_with_a_full_recompute(store: Store) -> None:
    p = policy()
    ids = [_open(store, f"Alert{k}", priority=("P1", "P2", "P3")[k % 3]) for k in range(9)]
    opened = repo.get(store, ids[0])["opened_at"]  # type: ignore[index]
    state = service.TickState()
    for step, iid in enumerate(ids):
        moment = opened + timedelta(hours=step * 3)
        if step % 2:
            repo.act(store, iid, "ack", "bob")
        if step % 3 == 0:
            service.act(store, p, iid, "pending", "bob", at=moment)
        service.tick(store, p, moment, state)
    end = opened + timedelta(days=3)
    incremental = service.tick(store, p, end, state)
    incremental_rows = {i: _projection(store, i) for i in ids}
    full = service.tick(store, p, end, None)  # everything from the logs alone
    assert full == []  # the incremental ticks already recorded every escalation due
    for iid in ids:
        before, after = incremental_rows[iid], _projection(store, iid)
        assert before is not None and after is not None

        # a paused clock's due time means "if work resumed now": it moves with the tick's time
        def shown(row: dict) -> dict:
            return {
                n: (c["state"], c["due"] if c["state"] != "paused" else None, c["breached"]) for n, c in row.items()
            }

        assert shown(before["sla"]) == _shown(after["sla"])
    assert all(f.incident_id in ids for f in incremental)


def test_a_reloaded_policy_recomputes_everything(store: Store) -> None:
    iid = _open(store, "Fan", priority="P1")
    opened = repo.get(store, iid)["opened_at"]  # type: ignore[index]
    state = service.TickState()
    service.tick(store, policy(), opened + timedelta(minutes=1), state)
    assert _projection(store, iid)["sla"]["response"]["budget_seconds"] == 3600  # type: ignore[index]
    targets = policy().model_dump()["targets"]
    targets["P1"]["internal"]["response"] = "30m"
    reloaded = policy(targets=targets)  # a new policy object, as serve's reload makes: no new event
    service.tick(store, reloaded, opened + timedelta(minutes=2), state)
    assert state.policy is reloaded
    assert _projection(store, iid)["sla"]["response"]["budget_seconds"] == 1800  # type: ignore[index]


def test_a_failed_tick_makes_the_next_one_start_afresh(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from opsagent.sla import recompute

    p = policy()
    iid = _open(store, "Disk")
    opened = repo.get(store, iid)["opened_at"]  # type: ignore[index]
    state = service.TickState()
    service.tick(store, p, opened + timedelta(minutes=1), state)

    def broken(*args: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(recompute, "_write", broken)
    with pytest.raises(RuntimeError):
        service.tick(store, p, opened + timedelta(minutes=31), state)  # would escalate response level 1
    monkeypatch.undo()
    assert state.policy is None
    fired = service.tick(store, p, opened + timedelta(minutes=32), state)
    assert [(f.incident_id, f.step.target, f.step.level) for f in fired] == [(iid, "response", 1)]


def _count_recomputed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of the incidents whose clocks the ticks compute from here on."""
    from opsagent.sla import recompute

    computed: list[int] = []

    class Counting(recompute.ClockBatch):
        def add(self, ref: Any, *args: Any) -> None:
            computed.append(ref)
            super().add(ref, *args)

    monkeypatch.setattr(recompute, "ClockBatch", Counting)
    return computed


def test_a_restart_recomputes_only_what_changed_while_down(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    p = policy()
    ids = [_open(store, f"Svc{k}", priority="P2") for k in range(4)]
    opened = repo.get(store, ids[0])["opened_at"]  # type: ignore[index]
    service.tick(store, p, opened + timedelta(minutes=1), service.TickState())  # the serve that stopped
    repo.act(store, ids[2], "ack", "dave")  # while it was down
    computed = _count_recomputed(monkeypatch)
    state = service.TickState()  # a new serve process
    service.tick(store, p, opened + timedelta(minutes=2), state)
    assert computed == [ids[2]]  # only the acknowledged incident
    assert set(state.next_check) == set(ids)  # the others are remembered as their projection left them
    assert _projection(store, ids[2])["sla"]["response"]["met"] is True  # type: ignore[index]
    computed.clear()
    targets = p.model_dump()["targets"]
    targets["P2"]["internal"]["resolution"] = "16h"
    service.tick(store, policy(targets=targets), opened + timedelta(minutes=3), service.TickState())
    assert len(computed) == 4  # another policy: everything again
    assert _projection(store, ids[0])["sla"]["resolution"]["budget_seconds"] == 16 * 3600  # type: ignore[index]


def test_a_reload_recomputes_only_the_incidents_whose_clocks_it_changes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = policy()
    fan, disk = _open(store, "Fan", priority="P1"), _open(store, "Disk", priority="P3")
    opened = repo.get(store, fan)["opened_at"]  # type: ignore[index]
    service.tick(store, p, opened + timedelta(minutes=1), service.TickState())
    before = {i: _projection(store, i) for i in (fan, disk)}
    computed = _count_recomputed(monkeypatch)
    targets = p.model_dump()["targets"]
    targets["P3"]["internal"]["resolution"] = "3wd"  # P3 only: the P1 incident's clocks are as they were
    service.tick(store, policy(targets=targets), opened + timedelta(minutes=2), service.TickState())
    assert computed == [disk]
    assert _projection(store, fan) == before[fan]  # not rewritten
    assert _projection(store, disk)["sla"]["resolution"]["budget_seconds"] == 3 * 8 * 3600  # type: ignore[index]
    escalation = p.model_dump()["escalation"]
    escalation["levels"][0]["at"] = "40%"  # escalation: every incident
    computed.clear()
    service.tick(store, policy(targets=targets, escalation=escalation), opened + timedelta(minutes=3), None)
    assert sorted(computed) == sorted([fan, disk])


def test_incidents_settled_while_serve_was_down_get_their_final_projection(store: Store) -> None:
    p = policy()
    a, b = _open(store, "Cpu", priority="P1"), _open(store, "Mem", priority="P1")
    opened = repo.get(store, a)["opened_at"]  # type: ignore[index]
    service.tick(store, p, opened + timedelta(minutes=1), service.TickState())
    assert _outcome(store, a) is None  # clocks running: not settled
    repo.act(store, a, "ack", "erin")
    repo.act(store, a, "resolve", "erin", cause="c", resolution_steps="s")  # while serve was down
    state = service.TickState()
    service.tick(store, p, opened + timedelta(minutes=2), state)  # a restart's first tick: active ones only
    assert _outcome(store, a) is None and state.settling is None
    service.tick(store, p, opened + timedelta(minutes=3), state)  # the next lists and settles it
    assert _outcome(store, a) == "mmm--" and state.settling == []  # handover, onsite: no such clock
    assert _outcome(store, b) is None


def _outcome(store: Store, incident_id: int) -> str | None:
    s = schema.incident_service.c
    with store.engine.connect() as conn:
        found: str | None = conn.execute(select(s.outcome).where(s.incident_id == incident_id)).scalar()
    return found
