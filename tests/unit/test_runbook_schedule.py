"""serve's runbook service: cron jobs for runbooks with a schedule; a scheduled inspection run
writes its reports; annotation parameters parse."""

from __future__ import annotations

from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from opsagent.app import App
from opsagent.config import load_config
from opsagent.runbooks.library import load_library
from opsagent.runbooks.triggers import RunbookService, parse_params
from opsagent.store import runbook_repo as runs

DAILY = """\
name: daily
kind: inspection
targets: all
schedule: "15 3 * * *"
steps:
  - name: echo
    shell: "echo 42"
    register: v
    check:
      - {warn: "v.stdout | int > 40", message: "high", threshold: "40"}
"""


async def test_scheduled_inspection_runs_and_writes_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = tmp_path / "content"
    (content / "runbooks").mkdir(parents=True)
    (content / "runbooks" / "daily.yaml").write_text(DAILY)
    (tmp_path / "opsagent.yaml").write_text(f"content_roots: ['{content}']\n")
    config = load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)})
    app = App(config)
    try:
        app.seed_if_empty()
        service = RunbookService(app, load_library(config.roots))
        scheduler = AsyncIOScheduler(timezone="UTC")
        assert service.schedule(scheduler) >= 2  # ours and the shipped linux-host-inspection
        job = scheduler.get_job("runbook:daily")
        assert (
            job is not None and str(job.trigger) == "cron[month='*', day='*', day_of_week='*', hour='3', minute='15']"
        )
        await service.run_scheduled("daily")
        [run] = runs.list_runs(app.store, "daily")
        assert run["trigger"] == "schedule" and run["status"] == "succeeded" and run["actor"] == "opsagent (schedule)"
        html = tmp_path / "reports" / f"daily-{run['id']}.html"
        md = tmp_path / "reports" / f"daily-{run['id']}.md"
        assert html.is_file() and md.is_file()
        assert "warn" in md.read_text() and "| echo |" in md.read_text()
    finally:
        app.close()


def test_annotation_parameters() -> None:
    assert parse_params('mountpoint=/var, service="my app" port=8080') == {
        "mountpoint": "/var",
        "service": "my app",
        "port": "8080",
    }
    assert parse_params("") == {}
