"""One rule for every cron: the item's own timezone, else the agent's `timezone`, else the host's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from opsagent.app import App
from opsagent.config import load_config
from opsagent.netcli.schedule import BackupJobs, plan_for
from opsagent.runbooks.library import load_library
from opsagent.runbooks.triggers import RunbookService
from tests.unit.test_backup_schedule import _asset

RUNBOOK = """\
name: {name}
kind: inspection
targets: all
schedule: "0 9 * * *"
{zone}
steps:
  - {{name: echo, shell: "echo 1"}}
"""
MONDAY = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


def _next_fire(job_trigger: object) -> datetime:
    fire = job_trigger.get_next_fire_time(None, MONDAY)  # type: ignore[attr-defined]
    assert fire is not None
    return fire.astimezone(UTC)


def test_runbook_schedules_run_in_their_zone_else_the_agents(tmp_path: Path) -> None:
    content = tmp_path / "content" / "runbooks"
    content.mkdir(parents=True)
    (content / "own.yaml").write_text(RUNBOOK.format(name="own", zone="timezone: America/New_York"))
    (content / "agent.yaml").write_text(RUNBOOK.format(name="agent", zone=""))
    (tmp_path / "opsagent.yaml").write_text(f"content_roots: ['{tmp_path / 'content'}']\ntimezone: Asia/Shanghai\n")
    config = load_config(None, environ={"OPSAGENT_HOME": str(tmp_path)})
    app = App(config)
    try:
        service = RunbookService(app, load_library(config.roots))
        scheduler = AsyncIOScheduler(timezone="UTC")
        service.schedule(scheduler)
        agent, own = scheduler.get_job("runbook:agent"), scheduler.get_job("runbook:own")
        assert agent is not None and own is not None
        assert _next_fire(agent.trigger) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
        assert _next_fire(own.trigger) == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 09:00 in New York (EST)
    finally:
        app.close()


def test_a_runbook_with_an_unknown_zone_is_invalid(tmp_path: Path) -> None:
    from opsagent.errors import ConfigError
    from opsagent.loader import load_model
    from opsagent.runbooks.model import Runbook

    path = tmp_path / "bad.yaml"
    path.write_text(RUNBOOK.format(name="bad", zone="timezone: Mars/Olympus"))
    with pytest.raises(ConfigError, match=r"bad.yaml:5: timezone: .*unknown time zone"):
        load_model(path, Runbook)


def test_config_backup_crons_use_their_var_else_the_agents_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    plan = plan_for(_asset(), {"config_backup_cron": "0 2 * * *"}, shanghai)
    assert plan is not None and plan.zone == "Asia/Shanghai"
    own = plan_for(_asset(), {"config_backup_cron": "0 2 * * *", "config_backup_timezone": "Europe/Berlin"}, shanghai)
    assert own is not None and own.zone == "Europe/Berlin"
    trigger = BackupJobs._trigger("config-backup:sw1", plan)
    assert _next_fire(trigger) == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # 02:00 Shanghai on the 8th
    with pytest.raises(ValueError, match="unknown time zone"):
        plan_for(_asset(), {"config_backup_cron": "0 2 * * *", "config_backup_timezone": "CST+8"})
