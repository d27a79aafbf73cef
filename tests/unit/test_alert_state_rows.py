"""Alert state rows are written when they change, not rewritten every tick: a tick that changes nothing
writes nothing, a moving value/last_seen is refreshed (an UPDATE of those two) at most every
STATE_REFRESH_SECONDS, every other change (new alert, state, incident, flapping) is written at once,
gone alerts are deleted, and what the store holds restores the same alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from opsagent.alerts import engine as engine_module
from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, schema, sqlite_url

RULES = "groups: [{name: g, rules: [{alert: Low, expr: 'm < 10', for: 1m}]}]"


def _setup(tmp_path: Path) -> tuple[AlertEngine, SeriesHistory, list[str]]:
    store = Store(sqlite_url(tmp_path / "s.db"))
    history = SeriesHistory(retention=1e9)
    engine = AlertEngine(store, history, compile_document(parse_yaml_text(RULES, "r.yaml")), NotifyConfig())
    statements: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "alert_states" in statement and not statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    return engine, history, statements


def _poll(history: SeriesHistory, values: dict[str, float], t: float) -> None:
    for asset, v in values.items():
        history.ingest(asset, [("m", {"asset": asset}, v, "gauge")], t, replace=True)


def _stored(engine: AlertEngine) -> dict[str, dict[str, Any]]:
    with engine.store.engine.connect() as conn:
        return {r.fingerprint: dict(r._mapping) for r in conn.execute(select(schema.alert_states))}


def test_only_changes_are_written(tmp_path: Path, monkeypatch: Any) -> None:
    clock = [1000.0]
    monkeypatch.setattr(engine_module.time, "monotonic", lambda: clock[0])
    engine, history, statements = _setup(tmp_path)
    assets = {f"h{i}": 1.0 for i in range(20)}
    _poll(history, assets, 100.0)
    engine.evaluate(100.0)
    engine._save_states()  # the first save rewrites the table (it may hold rows of a previous run)
    assert len(_stored(engine)) == 20
    statements.clear()
    engine.evaluate(101.0)  # same alerts, last_seen moved
    engine._save_states()
    assert statements == []
    _poll(history, assets | {"h0": 2.0}, 110.0)  # a value moved
    engine.evaluate(110.0)
    engine._save_states()
    assert statements == []
    assert _stored(engine)[engine.active_alerts()[0][1].fingerprint]["value"] == 1.0  # refreshed later
    _poll(history, assets | {"h1": 50.0}, 120.0)  # h1 back to normal: its pending alert is gone
    engine.evaluate(120.0)
    engine._save_states()
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("DELETE")
    assert len(_stored(engine)) == 19
    statements.clear()
    _poll(history, assets | {"h0": 2.0, "h1": 50.0}, 161.0)  # the `for` is over: firing
    engine.evaluate(161.0)
    engine._save_states()
    assert {r["state"] for r in _stored(engine).values()} == {"firing"}
    before = _stored(engine)
    statements.clear()
    clock[0] += engine_module.STATE_REFRESH_SECONDS  # now value and last_seen are refreshed too
    engine.evaluate(162.0)
    engine._save_states()
    after = _stored(engine)
    assert {r["last_seen"] for r in after.values()} == {162.0}
    assert {r["value"] for r in after.values()} == {1.0, 2.0}
    # with an UPDATE of those two columns (one statement, executemany): the rest of each row stays
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE")
    moving = {"value", "last_seen"}
    for fp, row in before.items():
        assert {k: v for k, v in after[fp].items() if k not in moving} == {
            k: v for k, v in row.items() if k not in moving
        }
    assert after.keys() == before.keys()
    statements.clear()
    engine.evaluate(163.0)  # refreshed a second ago: nothing to write
    engine._save_states()
    assert statements == []


def test_what_is_stored_restores_the_same_alerts(tmp_path: Path) -> None:
    engine, history, _statements = _setup(tmp_path)
    _poll(history, {"a": 1.0, "b": 1.0}, 100.0)
    engine.evaluate(100.0)
    engine._save_states()
    _poll(history, {"a": 3.0, "b": 50.0}, 130.0)
    engine.evaluate(130.0)
    engine._save_states(everything=True)  # as the engine does when it stops
    again = AlertEngine(engine.store, SeriesHistory(), engine.order, NotifyConfig())
    assert again.restore() == 1
    [(_rule, alert)] = again.active_alerts()
    [(_rule, before)] = engine.active_alerts()
    assert alert.to_row() | {"history": []} == before.to_row()
    assert again.states["Low\x00g"].flaps[alert.fingerprint] == engine.states["Low\x00g"].flaps[alert.fingerprint]
