"""A poll bringing the same facts as the last one stored does not read the store back (at a 60 s
interval that read-and-compare was most of a poll's store work); changed facts are stored at once,
and unchanged ones are still compared with the store every FACTS_RECHECK_SECONDS."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from opsagent import app as app_module
from opsagent.app import App
from opsagent.collectors import CollectResult
from opsagent.config import load_config
from opsagent.inventory.model import Asset, Inventory
from opsagent.store import inventory_repo as repo


def test_unchanged_facts_skip_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(app_module.time, "monotonic", lambda: clock[0])
    (tmp_path / "opsagent.yaml").write_text("{}\n")
    app = App(load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)}))
    try:
        repo.save_inventory(app.store, Inventory(assets={"web01": Asset(name="web01", address="127.0.0.1")}))
        statements: list[str] = []

        @event.listens_for(app.store.engine, "before_cursor_execute")
        def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "facts" in statement:
                statements.append(statement)

        def poll(facts: dict[str, Any]) -> int:
            statements.clear()
            asyncio.run(app.record_result(CollectResult("web01", "ssh", facts=facts)))
            return len(statements)

        assert poll({"os": {"name": "Debian"}, "cpu": {"count": 2}}) > 0
        assert poll({"os": {"name": "Debian"}, "cpu": {"count": 2}}) == 0  # same facts: no store round trip
        assert poll({"os": {"name": "Debian"}, "cpu": {"count": 4}}) > 0
        assert repo.current_facts(app.store, "web01") == {"os.name": "Debian", "cpu.count": 4}
        clock[0] += app_module.FACTS_RECHECK_SECONDS
        assert poll({"os": {"name": "Debian"}, "cpu": {"count": 4}}) > 0  # compared with the store again
    finally:
        app.close()
