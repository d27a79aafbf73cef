"""Running a runbook from the App (CLI, API, schedule and incident triggers share this)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from opsagent.alerts.notifyconfig import NotifyConfig, load_notify_config
from opsagent.app import App
from opsagent.errors import ConfigError
from opsagent.runbooks import report as reports
from opsagent.runbooks.context import Approver, Observer, RunRequest
from opsagent.runbooks.executor import Executor
from opsagent.runbooks.library import Entry, Library, read_library
from opsagent.runbooks.results import RunResult
from opsagent.store import runbook_repo as runs


def library(app: App) -> dict[str, Entry]:
    return load(app).entries


def load(app: App) -> Library:
    """The runbooks of every content root; broken files are left out, their issues in ``issues``."""
    return read_library(app.config.roots)


async def execute(app: App, request: RunRequest, approver: Approver, observer: Observer | None = None) -> RunResult:
    await asyncio.to_thread(runs.reap_interrupted, app.store)
    inventory = await asyncio.to_thread(app.inventory)
    notify = await asyncio.to_thread(_notify_config, app)
    tokens = [app.config.api_token_ref, *app.config.api_tokens.values()]
    executor = Executor(app.store, inventory, approver, observer, notify=notify, secrets=tokens)
    return await executor.run(request)


def _notify_config(app: App) -> NotifyConfig | None:
    """Receivers for notify steps; None (those steps fail, saying why) when the file is invalid."""
    try:
        return load_notify_config(app.config.roots)
    except ConfigError:
        return None


def write_report(app: App, run_id: int, path: Path, lang: str | None = None) -> Path:
    """In ``lang``, else the agent's language; times in the agent's zone (serve's reports too)."""
    run = runs.get_run(app.store, run_id)
    assert run is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    text = reports.render(run, reports.format_for(str(path)), lang or app.config.lang, app.config.zone)
    path.write_text(text, encoding="utf-8")
    return path
