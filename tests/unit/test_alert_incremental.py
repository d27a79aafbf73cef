"""Poll-driven ticks do only the work a poll can change, with the outcome of doing all of it (seeded, random):
a rule with no series and no alert on the polled asset is not evaluated (the database rules on a host), a scoped
step visits the polled asset's alerts only (an index by asset), and a scoped tick looks for firing alerts
without an incident only after something could have made one."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import load_rules
from opsagent.alerts.state import RuleState
from opsagent.series import SeriesHistory
from opsagent.store import Store, sqlite_url
from tests.unit.test_alert_scoped_ticks import _rows

ROOT = Path(__file__).resolve().parents[2]


def _engine(tmp_path: Path, name: str, history: SeriesHistory) -> AlertEngine:
    return AlertEngine(Store(sqlite_url(tmp_path / f"{name}.db")), history, load_rules([ROOT]), NotifyConfig())


def _database_rows(asset: str, rng: random.Random) -> list[tuple[str, dict[str, str], float, str]]:
    a = {"asset": asset}
    return [
        ("pg_stat_activity_count", a | {"datname": "app"}, rng.choice([10.0, 95.0]), "gauge"),
        ("pg_settings_max_connections", a, 100.0, "gauge"),
        ("pg_replication_lag_seconds", a, rng.choice([1.0, 900.0]), "gauge"),
        ("redis_connected_clients", a, rng.choice([5.0, 99.0]), "gauge"),
        ("redis_config_maxclients", a, 100.0, "gauge"),
    ]


def _batch(
    asset: str, step: int, rng: random.Random, databases: set[str]
) -> list[tuple[str, dict[str, str], float, str]]:
    rows = [r for r in _rows(asset, step, rng) if rng.random() > 0.1]  # a series left out goes stale
    if asset in databases:
        rows += [r for r in _database_rows(asset, rng) if rng.random() > 0.2]
    return rows


def _alerts(engine: AlertEngine) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (r.name, a.fingerprint): (a.state, a.active_at, a.fired_at, repr(a.value), a.labels, a.annotations, a.flapping)
        for r, a in engine.active_alerts()
    }


def _kinds(transitions: list[Any]) -> list[tuple[str, str, str]]:
    return sorted((tr.kind, tr.alert.rule, str(sorted(tr.alert.labels.items()))) for tr in transitions)


def _indexed(rs: RuleState) -> None:
    """Every alert and flap record is indexed under its asset."""
    for fp, alert in rs.alerts.items():
        assert rs.asset_of[fp] == alert.labels.get("asset", "") and fp in rs.by_asset[rs.asset_of[fp]]
    for fp in rs.flaps:
        assert fp in rs.by_asset[rs.asset_of[fp]]


@pytest.mark.parametrize("seed", range(7))
def test_poll_driven_ticks_move_alerts_as_plain_evaluations_do(tmp_path: Path, seed: int) -> None:
    """Two engines over one history, ticked alike (a scoped tick after each poll, a full one every 15 s): one
    as serve runs it, one with every shortcut off (no cached results, every rule evaluated at every tick).
    Hosts come and go (removed: their series go stale), batches leave series out, some hosts carry
    database series now and then; values cross the default rules' thresholds both ways. The alerts and
    the transitions agree after every tick."""
    rng = random.Random(seed)
    history = SeriesHistory(retention=1e9)
    fast, plain = _engine(tmp_path, "fast", history), _engine(tmp_path, "plain", history)
    plain._memos, plain._reads = {}, {}
    assets = [f"h{i}" for i in range(8)]
    live = set(rng.sample(assets, 5))
    databases = set(rng.sample(assets, 3))
    t, full_at, moved = 1_000_000.0, 1_000_000.0, 0
    for step in range(1, 50):
        if rng.random() < 0.15:  # a host leaves the inventory (its series go stale) or one joins
            gone = rng.choice(sorted(live))
            live.discard(gone)
            history.forget((gone, "ssh"), t)
        if rng.random() < 0.3:
            live.add(rng.choice(assets))
        if rng.random() < 0.2:
            databases ^= {rng.choice(assets)}
        for asset in sorted(live):
            t += rng.choice([2.0, 7.5, 15.0])
            history.ingest((asset, "ssh"), _batch(asset, step, rng, databases), t, replace=True)
            scope = frozenset({asset})
            got = asyncio.run(fast.tick(t, scope)).transitions
            want = asyncio.run(plain.tick(t, scope)).transitions
            assert _kinds(got) == _kinds(want), (step, asset)
            assert _alerts(fast) == _alerts(plain), (step, asset)
            moved += len(want)
            if t - full_at >= 15.0:
                full_at = t
                t += 0.5
                want = asyncio.run(plain.tick(t)).transitions
                assert _kinds(asyncio.run(fast.tick(t)).transitions) == _kinds(want)
                moved += len(want)
                assert _alerts(fast) == _alerts(plain), step
        for rs in fast.states.values():
            _indexed(rs)
    assert moved > 5  # the walk crosses thresholds both ways


def test_a_hosts_poll_does_not_evaluate_the_database_rules(tmp_path: Path) -> None:
    """A rule with no series and no alert on the polled asset is not evaluated for it; once the asset has
    such series (or an alert of the rule) it is."""
    history = SeriesHistory(retention=1e9)
    engine = _engine(tmp_path, "e", history)
    key = "PostgresReplicationLag\x00databases"
    memo = engine._memos[key]
    rng = random.Random(1)
    history.ingest(("h1", "ssh"), _rows("h1", 1, rng), 1000.0, replace=True)
    asyncio.run(engine.tick(1000.0, frozenset({"h1"})))
    assert memo.evaluated == 0
    history.ingest(
        ("h1", "pg"), [("pg_replication_lag_seconds", {"asset": "h1"}, 900.0, "gauge")], 1010.0, replace=True
    )
    asyncio.run(engine.tick(1010.0, frozenset({"h1"})))
    assert memo.evaluated == 1 and [
        a.labels["asset"] for _r, a in engine.active_alerts() if _r.name == "PostgresReplicationLag"
    ] == ["h1"]
