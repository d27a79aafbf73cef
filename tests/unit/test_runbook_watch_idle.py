"""The incident watcher of serve's runbook service lists the active incidents only when they changed
since its last look (or a run ended): with hundreds of open incidents, listing and decoding them every
2 s was most of an idle agent's CPU. New, reopened and changed incidents are still seen at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from opsagent.app import App
from opsagent.config import load_config
from opsagent.incidents import repo
from opsagent.runbooks import triggers
from opsagent.runbooks.library import load_library
from opsagent.runbooks.triggers import RunbookService
from opsagent.store import schema


def _fire(app: App, name: str, **annotations: str) -> int:
    alert = repo.AlertInput(f"fp-{name}", name, {"alertname": name, "asset": "web01"}, annotations)
    return repo.fire(app.store, alert)[0]


def _events(app: App, incident_id: int) -> list[str]:
    e = schema.incident_events.c
    with app.store.engine.connect() as conn:
        rows = conn.execute(select(e.message).where(e.incident_id == incident_id, e.kind == triggers.EVENT_KIND))
        return [r[0] for r in rows]


async def test_the_watcher_lists_incidents_only_when_they_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "content" / "runbooks").mkdir(parents=True)
    (tmp_path / "opsagent.yaml").write_text(f"content_roots: ['{tmp_path / 'content'}']\n")
    config = load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)})
    app = App(config)
    listed: list[int] = []
    real = triggers.incident_repo.list_incidents

    def counting(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        listed.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(triggers.incident_repo, "list_incidents", counting)
    try:
        app.seed_if_empty()
        service = RunbookService(app, load_library(config.roots))
        for i in range(5):
            _fire(app, f"Plain{i}")
        assert await service.check_incidents() == [] and len(listed) == 1
        assert await service.check_incidents() == [] and len(listed) == 1  # nothing changed: not listed
        wanted = _fire(app, "WithRunbook", opsagent_runbook="emergency/missing")
        assert await service.check_incidents() == [] and len(listed) == 2  # a new incident: listed
        assert any("not run" in m for m in _events(app, wanted))  # and its runbook looked for
        assert await service.check_incidents() == [] and len(listed) == 2
        repo.fire(app.store, repo.AlertInput("fp-Plain0", "Plain0", {"alertname": "Plain0", "asset": "web01"}))
        await service.check_incidents()  # an update (the alert fired again): listed
        assert len(listed) == 3
    finally:
        app.close()
