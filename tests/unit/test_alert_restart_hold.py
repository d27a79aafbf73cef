"""After a restart, restored alerts are held (neither resolved nor dropped) until their series have had
the chance to be collected again; a restored pending alert keeps its `for` clock."""

from __future__ import annotations

from pathlib import Path

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import FlappingConfig, NotifyConfig
from opsagent.alerts.promql import Element
from opsagent.alerts.rulefile import compile_document
from opsagent.alerts.state import FIRING, PENDING, AlertState, RuleState, alert_labels, fingerprint, step
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url

TEXT = "groups:\n  - name: g\n    rules:\n      - alert: Hot\n        expr: temp > 90\n        for: 60s\n"
RULE = compile_document(parse_yaml_text(TEXT, "r.yaml"))[0]
ELEMENT = Element(None, {"asset": "a"}, 95.0)
LABELS = alert_labels(RULE, ELEMENT)
FP = fingerprint(LABELS)


def _restored(state: str, active_at: float) -> RuleState:
    rs = RuleState()
    rs.alerts[FP] = AlertState("Hot", FP, LABELS, {}, 95.0, state, active_at, fired_at=active_at + 60)
    rs.matching.add(FP)
    rs.held.add(FP)
    return rs


def test_restored_firing_alert_is_held_until_the_grace_ends() -> None:
    rs = _restored(FIRING, 0.0)
    cfg = FlappingConfig()
    for t in (1000.0, 1001.0, 1002.0):  # no sample yet: held as it was, and no flap change either
        assert step(RULE, rs, [], t, cfg, None, 1.0, hold_until=1004.0) == []
        assert rs.alerts[FP].state == FIRING and FP not in rs.flaps
    assert [tr.kind for tr in step(RULE, rs, [], 1004.0, cfg, None, 1.0, hold_until=1004.0)] == ["resolved"]


def test_seen_alert_is_no_longer_held() -> None:
    rs = _restored(FIRING, 0.0)
    cfg = FlappingConfig(enabled=False)
    assert step(RULE, rs, [ELEMENT], 1000.0, cfg, None, 1.0, hold_until=1010.0) == []
    assert [tr.kind for tr in step(RULE, rs, [], 1001.0, cfg, None, 1.0, hold_until=1010.0)] == ["resolved"]


def test_restored_pending_alert_keeps_its_for_clock() -> None:
    rs = _restored(PENDING, 950.0)
    cfg = FlappingConfig(enabled=False)
    assert step(RULE, rs, [], 1000.0, cfg, None, 1.0, hold_until=1010.0) == []  # not dropped
    assert [tr.kind for tr in step(RULE, rs, [ELEMENT], 1010.0, cfg, None, 1.0, hold_until=1010.0)] == ["fired"]


def test_hold_goes_on_while_a_target_has_not_reported(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "s.db"))
    try:
        engine = AlertEngine(store, SeriesHistory(), [RULE], NotifyConfig())
        waiting = [True]
        engine.restore(10.0, lambda: waiting[0])
        start = engine.hold_until - 10.0
        assert engine._held_until(start + 5) == engine.hold_until  # within the grace
        assert engine._held_until(start + 20) > start + 20  # a slow first poll: still held
        waiting[0] = False
        assert engine._held_until(start + 21) == engine.hold_until < start + 21  # reported: the hold ends
        waiting[0] = True
        engine.restore(10.0, lambda: waiting[0])
        start = engine.hold_until - 10.0
        assert engine._held_until(start + 51) < start + 51  # never past five times the grace
    finally:
        store.close()
