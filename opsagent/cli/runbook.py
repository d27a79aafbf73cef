"""``opsagent runbook list|show|run|runs|approvals|approve``."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from opsagent.app import App, actor
from opsagent.cli import prompt
from opsagent.cli.common import (
    EXIT_FAILED,
    console,
    err_console,
    local_time,
    output_option,
    print_json,
    print_table,
    short,
)
from opsagent.cli.params import KEY_VALUE
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.runbooks import report as reports
from opsagent.runbooks import service
from opsagent.runbooks.approvals import AutoApprover, TerminalApprover
from opsagent.runbooks.context import Approver, Observer, RunbookError, RunRequest
from opsagent.runbooks.library import Library, find
from opsagent.runbooks.model import Runbook, Step
from opsagent.runbooks.results import CHECKED, RunResult, StepResult, TargetResult
from opsagent.store import runbook_repo as runs

STATUS_STYLE = {"ok": "green", "failed": "red", "unreachable": "red", "timeout": "red", "skipped": "yellow"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


@click.group()
def runbook() -> None:
    """YAML runbooks: routine inspections (巡检), emergency procedures (应急) and tasks."""


@runbook.command("list")
@output_option
@click.pass_obj
def list_(config: AgentConfig, output: str) -> None:
    """The runbooks of every content root."""
    with App(config) as app:
        entries = _library(app).entries
    rows = sorted(entries.values(), key=lambda e: (e.runbook.kind.value, e.runbook.name))
    if output == "json":
        print_json([{"name": e.runbook.name, "ref": e.ref, "path": str(e.path), **_summary(e.runbook)} for e in rows])
        return
    print_table(
        "runbooks",
        ["name", "kind", "targets", "schedule", "steps", "description"],
        (
            (
                e.runbook.name,
                e.runbook.kind.value,
                e.runbook.targets,
                e.runbook.schedule or "",
                len(e.runbook.steps),
                short(e.runbook.description, 70),
            )
            for e in rows
        ),
    )


def _library(app: App) -> Library:
    """The runbook library; a broken file is reported on stderr and left out, the others stay usable."""
    library = service.load(app)
    for issue in library.issues:
        err_console().print(tr("warning: {issue} (runbook left out)", issue=issue), markup=False, highlight=False)
    return library


def _summary(rb: Runbook) -> dict[str, Any]:
    return {
        "kind": rb.kind.value,
        "description": rb.description,
        "targets": rb.targets,
        "schedule": rb.schedule,
        "parameters": {k: v.model_dump() for k, v in rb.parameters.items()},
        "steps": [_step_json(s) for s in rb.steps],
    }


def _step_json(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"name": step.name, "type": step.type}
    if step.type == "block":
        out["block"] = [_step_json(s) for s in step.children]
    else:
        args = step.args
        out["args"] = args.model_dump(by_alias=True, exclude_defaults=True) if hasattr(args, "model_dump") else args
    return out


@runbook.command()
@click.argument("name_or_run")
@click.option("--report", "report_file", type=click.Path(path_type=Path, dir_okay=False), help="Write a run's report.")
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Report language (default: the agent's `language`).")
@output_option
@click.pass_obj
def show(config: AgentConfig, name_or_run: str, report_file: Path | None, lang: str | None, output: str) -> None:
    """Show a runbook (by name) or a run (by number: targets, rendered commands, outputs, approvals)."""
    with App(config) as app:
        if name_or_run.isdigit():
            runs.reap_interrupted(app.store)
            run = runs.get_run(app.store, int(name_or_run))
            if run is None:
                raise RunbookError(f"no run #{name_or_run}")
            if report_file is not None:
                service.write_report(app, run["id"], report_file, lang)
            if output == "json":
                print_json(_jsonable(run))
            else:
                _render_run(run)
            return
        library = _library(app)
        entry = find(library.entries, name_or_run, library.broken)
    if output == "json":
        print_json({"name": entry.runbook.name, "path": str(entry.path), **_summary(entry.runbook)})
        return
    rb = entry.runbook
    console().print(
        f"[bold]{rb.name}[/] ({rb.kind.value}) — {rb.description}\n{entry.path}\n"
        + tr("targets: {targets}", targets=rb.targets)
    )
    if rb.parameters:
        print_table("parameters", ["name", "type", "default", "description"],
                    ((k, p.type, p.default, p.description) for k, p in rb.parameters.items()))  # fmt: skip
    print_table("steps", ["#", "name", "type"], ((i + 1, s.name, s.type) for i, s in enumerate(rb.steps)))


def _render_run(run: dict[str, Any]) -> None:
    c = console()
    c.print(
        f"[bold]run #{run['id']}[/] {run['runbook']} ({run['kind']}) · {run['status']} · by {run['actor']} via "
        f"{run['trigger']} · {local_time(run['started_at'])}" + (" · --check" if run["check_mode"] else ""),
        highlight=False,
    )
    if run["message"]:
        c.print(run["message"], markup=False)
    print_table("targets", ["asset", "status", "pass", "warn", "fail", "seconds", "message"],
                ((t["asset"], t["status"], t["checks"].get("pass", 0), t["checks"].get("warn", 0),
                  t["checks"].get("fail", 0), f"{t['duration'] or 0:.2f}", short(t["message"], 80))
                 for t in run["targets"]))  # fmt: skip
    print_table("steps", ["asset", "step", "status", "rc", "command", "output / message"],
                ((s["asset"], s["path"], s["status"], s["rc"], short(s["command"] or "", 60),
                  short((s["stdout"].strip() or s["message"]), 60)) for s in run["steps"]))  # fmt: skip
    if run["approvals"]:
        print_table("approvals", ["id", "asset", "step", "status", "by", "comment"],
                    ((a["id"], a["asset"], a["step"], a["status"], a["decided_by"] or "", a["comment"])
                     for a in run["approvals"]))  # fmt: skip


class ProgressObserver(Observer):
    """rich progress bar over target-steps plus one status line per finished target."""

    def __init__(self, out: Console, verbose: bool) -> None:
        self.out = out
        self.verbose = verbose
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
            disable=not out.is_terminal,
        )
        self.task: Any = None

    def run_started(self, run_id: int, runbook: Runbook, targets: list[str]) -> None:
        self.out.print(
            tr("run #{id}: {runbook} on {n} target(s)", id=run_id, runbook=runbook.name, n=len(targets)),
            highlight=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(runbook.name, total=len(targets))

    def step_done(self, asset: str, result: StepResult) -> None:
        if self.verbose or result.status == CHECKED:
            cmd = f"  $ {result.command}" if result.command else ""
            self.progress.console.print(
                f"  {asset} · {result.path}: {result.status}{cmd}", markup=False, highlight=False
            )

    def target_done(self, result: TargetResult) -> None:
        style = STATUS_STYLE.get(result.status, "white")
        counts = result.check_counts()
        checks = (
            tr(" · checks {ok}✔ {warn}⚠ {fail}✘", ok=counts["pass"], warn=counts["warn"], fail=counts["fail"])
            if any(counts.values())
            else ""
        )
        message = f" — {result.message}" if result.message else ""
        took = tr("{seconds:.2f}s", seconds=result.duration)
        self.progress.console.print(
            f"[{style}]{result.status:>11}[/] {result.asset} ({took}){checks}{message}", highlight=False
        )
        if self.task is not None:
            self.progress.advance(self.task)

    def stop(self) -> None:
        self.progress.stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        started = self.progress.live.is_started
        if started:
            self.progress.stop()
        try:
            yield
        finally:
            if started:
                self.progress.start()


def _ask(observer: ProgressObserver) -> Callable[[str], Awaitable[bool]] | None:
    """A yes/no question at the terminal, or None when stdin is no terminal (nobody can answer)."""
    if not sys.stdin.isatty():
        return None
    fd = sys.stdin.fileno()

    async def ask(text: str) -> bool:
        # The live progress bar redraws its line; hold it while the question waits for an answer.
        with observer.paused():
            return await prompt.confirm(text, fd)

    return ask


def _run_main(coro: Coroutine[Any, Any, RunResult]) -> RunResult:
    """Run with SIGTERM cancelling the run, so it is recorded as interrupted."""

    async def main() -> RunResult:
        task = asyncio.create_task(coro)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await task
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    result: RunResult = asyncio.run(main())
    return result


@runbook.command()
@click.argument("name")
@click.option("-l", "--limit", help="Inventory selector overriding the runbook's targets.")
@click.option("-e", "--extra", "extra", type=KEY_VALUE, multiple=True, help="Parameter as key=value (repeatable).")
@click.option("--check", "check_mode", is_flag=True, help="Dry run: render every command, execute nothing.")
@click.option("-y", "--yes", is_flag=True, help="Approve every approval step (recorded in your name).")
@click.option("--retry-failed", is_flag=True, help="Only the targets that failed in the last run.")
@click.option("--report", "report_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report: .md, .html or .json by suffix.")  # fmt: skip
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Report language (default: the agent's `language`).")
@click.option("-f", "--forks", type=click.IntRange(1, 5000), help="Targets at once (default: the runbook's).")
@click.option("-v", "--verbose", is_flag=True, help="Print every step as it finishes.")
@output_option
@click.pass_obj
def run(
    config: AgentConfig,
    name: str,
    limit: str | None,
    extra: tuple[tuple[str, str], ...],
    check_mode: bool,
    yes: bool,
    retry_failed: bool,
    report_file: Path | None,
    lang: str | None,
    forks: int | None,
    verbose: bool,
    output: str,
) -> None:
    """Run runbook NAME; exit 1 when any target failed."""
    out = Console(stderr=True) if output == "json" else console()
    with App(config) as app:
        app.seed_if_empty()
        library = _library(app)
        entry = find(library.entries, name, library.broken)
        who = actor()
        observer = ProgressObserver(out, verbose)
        approver: Approver = AutoApprover(app.store, who) if yes else TerminalApprover(app.store, who, _ask(observer))
        request = RunRequest(
            entry.runbook,
            selector=limit,
            params=dict(extra),
            check_mode=check_mode,
            actor=who,
            trigger="cli",
            retry_failed=retry_failed,
            concurrency=forks,
        )
        try:
            result = _run_main(service.execute(app, request, approver, observer))
        finally:
            observer.stop()
        if report_file is not None and result.run_id is not None:
            service.write_report(app, result.run_id, report_file, lang)
        summary = result.summary()
        if output == "json":
            run_row = runs.get_run(app.store, result.run_id) if result.run_id is not None else None
            print_json(_jsonable(run_row) if run_row else {"status": result.status, **summary})
        else:
            _print_summary(out, result, summary, report_file)
    if result.status != "succeeded":
        raise click.exceptions.Exit(EXIT_FAILED)


def _print_summary(out: Console, result: RunResult, summary: dict[str, Any], report_file: Path | None) -> None:
    by = ", ".join(f"{k} {v}" for k, v in sorted(summary["by_status"].items())) or tr("no targets")
    c = summary["checks"]
    checks = (
        tr(" · checks: {ok} pass, {warn} warn, {fail} fail", ok=c["pass"], warn=c["warn"], fail=c["fail"])
        if any(c.values())
        else ""
    )
    out.print(
        tr("run #{id} {status}: {by}{checks}", id=result.run_id, status=result.status, by=by, checks=checks),
        highlight=False,
    )
    if result.message:
        out.print(result.message, markup=False)
    if summary["failed"]:
        out.print(tr("failed: {targets}", targets=", ".join(summary["failed"])), markup=False)
    if report_file is not None:
        out.print(tr("report: {path}", path=report_file), markup=False)


@runbook.command("runs")
@click.argument("name", required=False)
@click.option("-n", "--limit", default=30, show_default=True)
@output_option
@click.pass_obj
def runs_(config: AgentConfig, name: str | None, limit: int, output: str) -> None:
    """Recorded runs (newest first); runs whose agent died show as interrupted."""
    with App(config) as app:
        runs.reap_interrupted(app.store)
        rows = runs.list_runs(app.store, name, limit)
    if output == "json":
        print_json(_jsonable(rows))
        return
    print_table("runbook runs", ["run", "runbook", "kind", "status", "by", "trigger", "started", "targets", "failed"],
                ((r["id"], r["runbook"], r["kind"], r["status"] + (" (check)" if r["check_mode"] else ""), r["actor"],
                  r["trigger"], local_time(r["started_at"]), r["summary"].get("targets", ""),
                  len(r["summary"].get("failed", []))) for r in rows))  # fmt: skip


@runbook.command()
@output_option
@click.pass_obj
def approvals(config: AgentConfig, output: str) -> None:
    """Approvals waiting for a person (triggered and scheduled runs)."""
    with App(config) as app:
        runs.reap_interrupted(app.store)
        rows = runs.list_approvals(app.store, "pending")
    if output == "json":
        print_json(_jsonable(rows))
        return
    print_table("pending approvals", ["id", "run", "asset", "step", "message", "requested"],
                ((a["id"], a["run_id"], a["asset"], a["step"], short(a["message"], 70), local_time(a["requested_at"]))
                 for a in rows))  # fmt: skip


@runbook.command()
@click.argument("approval_id", type=int)
@click.option("--reject", is_flag=True, help="Reject instead of approving.")
@click.option("-m", "--comment", default="", help="Why.")
@click.pass_obj
def approve(config: AgentConfig, approval_id: int, reject: bool, comment: str) -> None:
    """Approve (or --reject) a pending approval of a run."""
    with App(config) as app:
        try:
            row = runs.decide(app.store, approval_id, not reject, actor(), comment)
        except PermissionError as exc:
            raise RunbookError(str(exc)) from None
    if row is None:
        raise RunbookError(f"no pending approval #{approval_id}")
    console().print(
        tr("approval #{id} {status} by {who}", id=approval_id, status=row["status"], who=row["decided_by"]),
        highlight=False,
    )


__all__ = ["reports", "runbook"]
