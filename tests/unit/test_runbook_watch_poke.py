"""serve's incident watcher looks when it is told to (the engine opened incidents, a run ended) and
otherwise only every ``watch_seconds`` (incidents opened elsewhere): it no longer queries the store
every 2 s whatever happened. The engine tells it after a tick that opened or reopened incidents."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notifyconfig import NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.app import App
from opsagent.config import load_config
from opsagent.incidents import repo
from opsagent.loader import parse_yaml_text
from opsagent.runbooks import triggers
from opsagent.runbooks.library import load_library
from opsagent.runbooks.triggers import RunbookService
from opsagent.series import SeriesHistory
from opsagent.store import schema


def _events(app: App, incident_id: int) -> list[str]:
    e = schema.incident_events.c
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(e.message).where(e.incident_id == incident_id, e.kind == triggers.EVENT_KIND))
        return [r[0] for r in rows]


async def _until(predicate: Any, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_a_poke_wakes_the_watcher_and_nothing_else_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "content" / "runbooks").mkdir(parents=True)
    (tmp_path / "opsagent.yaml").write_text(f"content_roots: ['{tmp_path / 'content'}']\n")
    app = App(load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)}))
    checks: list[int] = []
    real = RunbookService.check_incidents

    async def counting(self: RunbookService) -> list[int]:
        checks.append(1)
        return await real(self)

    monkeypatch.setattr(RunbookService, "check_incidents", counting)
    stop = asyncio.Event()
    try:
        app.seed_if_empty()
        service = RunbookService(app, load_library(app.config.roots))
        service.watch_seconds = 3600.0
        rule = compile_document(
            parse_yaml_text(
                "groups: [{name: g, rules: [{alert: Down, expr: 'up == 0',"
                " annotations: {opsagent_runbook: emergency/missing}}]}]\n",
                "r.yaml",
            )
        )
        history = SeriesHistory()
        engine = AlertEngine(app.store, history, rule, NotifyConfig())
        engine.on_opened = service.poke
        watching = asyncio.create_task(service.watch(stop))
        await _until(lambda: len(checks) == 1)
        await asyncio.sleep(0.5)
        assert len(checks) == 1  # nothing happened: no second look at the store
        history.ingest(("web01", "ssh"), [("up", {"asset": "web01"}, 0.0, "gauge")], 1000.0, replace=True)
        opened = (await engine.tick(1001.0)).opened
        assert len(opened) == 1
        await _until(lambda: any("not run" in m for m in _events(app, opened[0])))  # its runbook looked for
        assert len(checks) == 2
        again = repo.fire(app.store, repo.AlertInput("fp-x", "X", {"alertname": "X", "asset": "web01"}))[0]
        service.poke()
        await _until(lambda: len(checks) == 3)
        assert again
        stop.set()
        await asyncio.wait_for(watching, 10)
    finally:
        stop.set()
        app.close()
