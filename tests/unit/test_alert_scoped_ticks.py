"""A poll result brings a tick forward over the polled asset alone: rules local to ``asset`` read only
its series and move only its alerts, with the same outcome as a full evaluation for that asset; the
alerts of assets not polled are left as they are until a full tick; rules that are not local (absent,
aggregations dropping ``asset``) are evaluated in full."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from sqlalchemy import event

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.promql import parse
from opsagent.alerts.promql.locality import local_to
from opsagent.alerts.rulefile import compile_document, load_rules
from opsagent.incidents import repo
from opsagent.loader import parse_yaml_text
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("expr", "local"),
    [
        ("node_load1 > 2", True),
        ("rate(x_total[5m]) + rate(y_total[5m]) > 1", True),
        ("node_load15 / on(asset) count by (asset) (node_cpu_seconds_total{mode='idle'}) > 2", True),
        ("a and on(asset, collector) b == 0", True),
        ("a / ignoring(device) b", True),
        ("sum without (cpu) (x) > 1", True),
        ("time() - node_boot_time_seconds < 600", True),
        ("sum(x) > 1", False),
        ("sum by (job) (x) > 1", False),
        ("sum without (asset) (x) > 1", False),
        ("a / on(job) b", False),
        ("a / ignoring(asset) b", False),
        ("absent(up)", False),
        ("x > scalar(y)", False),
        ("vector(1)", False),
    ],
)
def test_locality(expr: str, local: bool) -> None:
    assert local_to(parse(expr)) is local


def _rows(asset: str, step: int, rng: random.Random) -> list[tuple[str, dict[str, str], float, str]]:
    """A host whose values wander across the default rules' thresholds."""
    a = {"asset": asset}
    fs = a | {"mountpoint": "/", "fstype": "ext4", "device": "sda1"}
    rows = [
        ("node_filesystem_avail_bytes", fs, rng.choice([1.0, 50.0, 95.0]), "gauge"),
        ("node_filesystem_size_bytes", fs, 100.0, "gauge"),
        ("node_filesystem_readonly", fs, 0.0, "gauge"),
        ("node_memory_MemAvailable_bytes", a, rng.choice([5.0, 60.0]), "gauge"),
        ("node_memory_MemTotal_bytes", a, 100.0, "gauge"),
        ("node_load15", a, rng.choice([0.5, 9.0]), "gauge"),
        ("node_network_up", a | {"device": "eth0"}, rng.choice([0.0, 1.0]), "gauge"),
        ("node_network_receive_errs_total", a | {"device": "eth0"}, step * rng.choice([1.0, 100.0]), "counter"),
        ("node_network_transmit_errs_total", a | {"device": "eth0"}, float(step), "counter"),
        ("opsagent_up", a | {"collector": "ssh"}, rng.choice([0.0, 1.0]), "gauge"),
        ("opsagent_down_reason", a | {"collector": "ssh", "reason": "timeout"}, 1.0, "gauge"),
    ]
    rows += [("node_cpu_seconds_total", a | {"cpu": str(c), "mode": "idle"}, 10.0 * step, "counter") for c in range(2)]
    return rows


def _engine(tmp_path: Path, name: str, history: SeriesHistory) -> AlertEngine:
    rules = load_rules([ROOT], recording=True)
    return AlertEngine(Store(sqlite_url(tmp_path / f"{name}.db")), history, rules, NotifyConfig())


def _states(engine: AlertEngine) -> dict[tuple[str, str], tuple[str, float, float | None, bool]]:
    return {(r.name, a.fingerprint): (a.state, a.active_at, a.fired_at, a.flapping) for r, a in engine.active_alerts()}


def test_scoped_ticks_after_each_poll_agree_with_full_ones(tmp_path: Path) -> None:
    """Two engines over the same history: one evaluates everything after every poll, the other only the
    polled asset (and everything every fourth poll). Their alerts agree after every full tick."""
    history = SeriesHistory(retention=1e9)
    full, scoped = _engine(tmp_path, "full", history), _engine(tmp_path, "scoped", history)
    assert len(scoped._local) == len(scoped.rules)  # every default rule is local to asset
    rng = random.Random(7)
    assets = [f"h{i}" for i in range(6)]
    t = 1_000_000.0
    fired = 0
    for step in range(1, 40):
        for n, asset in enumerate(assets):
            t += 5.0
            history.ingest((asset, "ssh"), _rows(asset, step, rng), t, replace=True)
            fired += sum(tr.kind == "fired" for tr in full.evaluate(t))
            everything = (step * len(assets) + n) % 4 == 0
            scoped.evaluate(t, None if everything else frozenset({asset}))
            if everything:
                assert _states(scoped) == _states(full), (step, asset)
    assert fired > 5  # the walk crosses thresholds both ways


def test_a_scoped_tick_reads_only_the_polled_assets_series_and_moves_only_their_alerts(tmp_path: Path) -> None:
    history = SeriesHistory(retention=1e9)
    (rule,) = compile_document(parse_yaml_text("groups: [{name: g, rules: [{alert: Low, expr: 'm < 10'}]}]", "r.yaml"))
    engine = AlertEngine(Store(sqlite_url(tmp_path / "s.db")), history, [rule], NotifyConfig())
    for i in range(50):
        history.ingest((f"h{i}", "c"), [("m", {"asset": f"h{i}"}, 1.0, "gauge")], 100.0, replace=True)
    engine.evaluate(100.0)
    assert len(engine.active_alerts()) == 50 and engine.evaluator.stats.samples == 50
    for i in range(50):  # every value back to normal; only h3 is polled and evaluated
        history.ingest((f"h{i}", "c"), [("m", {"asset": f"h{i}"}, 50.0, "gauge")], 110.0, replace=True)
    engine.evaluate(110.0, frozenset({"h3"}))
    assert engine.evaluator.stats.samples == 1  # one asset's series read, not the fleet's
    left = {a.labels["asset"] for _r, a in engine.active_alerts()}
    assert left == {f"h{i}" for i in range(50)} - {"h3"}  # h3's pending alert is gone, the others wait
    engine.evaluate(111.0)
    assert engine.active_alerts() == []


def test_a_scoped_tick_touches_the_store_only_when_an_alert_changed_state(tmp_path: Path) -> None:
    history = SeriesHistory(retention=1e9)
    (rule,) = compile_document(parse_yaml_text("groups: [{name: g, rules: [{alert: Low, expr: 'm < 10'}]}]", "r.yaml"))
    store = Store(sqlite_url(tmp_path / "s.db"))
    engine = AlertEngine(store, history, [rule], NotifyConfig())
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda _c, _cur, statement, *_a: statements.append(statement))
    for i in range(10):
        history.ingest(
            (f"h{i}", "c"), [("m", {"asset": f"h{i}"}, 1.0 if i < 5 else 50.0, "gauge")], 100.0, replace=True
        )
    opened = asyncio.run(engine.tick(100.0)).opened
    assert len(opened) == 5
    statements.clear()
    history.ingest(("h7", "c"), [("m", {"asset": "h7"}, 60.0, "gauge")], 110.0, replace=True)
    result = asyncio.run(engine.tick(110.0, frozenset({"h7"})))  # h7 polled, still fine: nothing to store
    assert result.transitions == [] and statements == []
    history.ingest(("h8", "c"), [("m", {"asset": "h8"}, 2.0, "gauge")], 120.0, replace=True)
    result = asyncio.run(engine.tick(120.0, frozenset({"h8"})))  # h8 crossed: its incident at once
    assert [tr.kind for tr in result.transitions] == ["fired"] and len(result.opened) == 1
    assert {i["asset"] for i in repo.list_incidents(store)} == {f"h{i}" for i in (0, 1, 2, 3, 4, 8)}
