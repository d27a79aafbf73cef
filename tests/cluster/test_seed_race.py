"""Two agents starting at once on one empty PostgreSQL store: the seed inventory is imported once
(an advisory lock around the check and the insert), and neither start fails. Real PostgreSQL; each
agent its own App, engine and thread, released together."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from opsagent.app import App
from opsagent.config import load_config
from opsagent.store import Store, schema

pytestmark = pytest.mark.peer

AGENTS = 4


def _app(tmp_path: Path, name: str, store: str, seed: Path) -> App:
    home = tmp_path / name
    home.mkdir()
    (home / "opsagent.yaml").write_text(yaml.safe_dump({"store": store, "seed_inventory": [str(seed)]}))
    return App(load_config(None, environ={"OPSAGENT_HOME": str(home)}))


@pytest.mark.parametrize("round_", range(3))
def test_agents_starting_together_seed_once(tmp_path: Path, pg_empty_url: str, round_: int) -> None:
    seed = tmp_path / "seed.yaml"
    assets = [{"name": f"h{i:03d}", "kind": "host", "address": f"10.0.{i // 250}.{i % 250 + 1}"} for i in range(300)]
    seed.write_text(yaml.safe_dump({"assets": assets}))
    Store(pg_empty_url).close()  # the schema exists (serve migrates before it seeds)
    apps = [_app(tmp_path, f"a{k}", pg_empty_url, seed) for k in range(AGENTS)]
    for app in apps:
        app.store.engine.connect().close()  # each its own engine, connected before the start line
    start = threading.Barrier(AGENTS)
    results: list[Any] = [None] * AGENTS

    def boot(k: int) -> None:
        start.wait()
        try:
            results[k] = apps[k].seed_if_empty()
        except Exception as exc:  # the failure the race used to give: a duplicate key at start
            results[k] = exc

    threads = [threading.Thread(target=boot, args=(k,)) for k in range(AGENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(len(r) for r in results) == [0] * (AGENTS - 1) + [1]  # one agent seeded
        with apps[0].store.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(schema.assets)).scalar_one()
        assert count == 300
    finally:
        for app in apps:
            app.close()
