"""``opsagent problem suggest|create|update|link|unlink|list|show``: problem records (问题管理) — recurring
tickets grouped, with a root cause, a workaround article and the status of the permanent fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from opsagent.app import App, actor
from opsagent.cli.common import local_time, output_option, print_json, print_table, short
from opsagent.cli.kb import _call, _json, _valid
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.knowledge import problem_groups, problems
from opsagent.knowledge.model import KnowledgeError
from opsagent.knowledge.problems import STATES, LinkIncidents, NewProblem, ProblemChange
from opsagent.store.engine import now


@click.group()
def problem() -> None:
    """Problem records (问题管理): recurring tickets, their root cause, workaround and permanent fix."""


@problem.command("suggest")
@click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True, help="Tickets opened since.")
@click.option("--min", "min_tickets", type=click.IntRange(2, 10_000), default=3, show_default=True)
@output_option
@click.pass_obj
def suggest_cmd(config: AgentConfig, days: int, min_tickets: int, output: str) -> None:
    """Candidates: recurring tickets no problem holds yet — the same alert on the same asset group, or the
    same category and a similar symptom. Create one with `opsagent problem create --incident …`."""
    with App(config) as app:
        found = problem_groups.candidates(app.store, now() - timedelta(days=days), min_tickets)
    if output == "json":
        print_json(found)
        return
    print_table(
        None,
        ["kind", "alert / category", "group", "tickets", "incidents", "title"],
        (
            (g["kind"], g.get("alertname") or g.get("category"), g.get("asset_group", ""), g["count"],
             ",".join(map(str, g["incidents"])), short(g["title"], 50))
            for g in found
        ),
    )  # fmt: skip


@problem.command("create")
@click.option("--title", required=True)
@click.option("-i", "--incident", "incidents", multiple=True, type=int, help="A ticket of the problem (repeat).")
@click.option("--root-cause", default="")
@click.option("--workaround", type=int, help="The knowledge article that works around it.")
@click.option("--fix", default="", help="The permanent fix, planned or done.")
@click.option("--status", type=click.Choice(STATES), default="open", show_default=True)
@click.option("--alert", "alertname", help="The alert it recurs as (from `problem suggest`).")
@click.option("--group", "asset_group", help="The asset group it recurs on.")
@click.option("--category", help="The ticket category it recurs in.")
@output_option
@click.pass_obj
def create_cmd(config: AgentConfig, /, output: str, **values: Any) -> None:
    """Record a problem over the tickets given."""
    values["incidents"] = list(values["incidents"])
    new = _valid(NewProblem, **values)
    with App(config) as app:
        problem_id = _call(problems.create, app.store, new, actor())
        found = problems.get(app.store, problem_id)
    _show(found, output)


@problem.command("update")
@click.argument("problem_id", type=int)
@click.option("--title")
@click.option("--root-cause")
@click.option("--workaround", type=int, help="The knowledge article that works around it.")
@click.option("--fix", help="The permanent fix, planned or done.")
@click.option("--status", type=click.Choice(STATES), help="open · known_error · fixed · closed")
@output_option
@click.pass_obj
def update_cmd(config: AgentConfig, /, problem_id: int, output: str, **values: Any) -> None:
    """Change a problem: root cause, workaround, fix, status (closing it ends its tracking in reports)."""
    change = _valid(ProblemChange, **{k: v for k, v in values.items() if v is not None})
    with App(config) as app:
        changed = _call(problems.update_problem, app.store, problem_id, change, actor())
        found = problems.get(app.store, problem_id)
    if not changed and output != "json":
        click.echo(tr("unchanged"))
    _show(found, output)


def _link(config: AgentConfig, problem_id: int, incidents: tuple[int, ...], unlink: bool) -> None:
    body = _valid(LinkIncidents, incidents=list(incidents), unlink=unlink)
    with App(config) as app:
        changed = _call(problems.link, app.store, problem_id, body.incidents, actor(), unlink)
    done = tr("unlinked: {ids}") if unlink else tr("linked: {ids}")
    click.echo(done.format(ids=", ".join(map(str, changed)) or "-"))


@problem.command("link")
@click.argument("problem_id", type=int)
@click.argument("incidents", nargs=-1, type=int, required=True)
@click.pass_obj
def link_cmd(config: AgentConfig, problem_id: int, incidents: tuple[int, ...]) -> None:
    """Link tickets to a problem."""
    _link(config, problem_id, incidents, False)


@problem.command("unlink")
@click.argument("problem_id", type=int)
@click.argument("incidents", nargs=-1, type=int, required=True)
@click.pass_obj
def unlink_cmd(config: AgentConfig, problem_id: int, incidents: tuple[int, ...]) -> None:
    """Take tickets off a problem."""
    _link(config, problem_id, incidents, True)


@problem.command("list")
@click.option("--status", type=click.Choice(STATES))
@output_option
@click.pass_obj
def list_cmd(config: AgentConfig, status: str | None, output: str) -> None:
    """Problems, newest first."""
    with App(config) as app:
        rows = problems.list_problems(app.store, status)
    if output == "json":
        print_json(_json(rows))
        return
    print_table(
        None,
        ["#", "status", "title", "tickets", "workaround", "found", "closed"],
        (
            (r["id"], r["status"], short(r["title"], 50), len(r["incidents"]),
             (r["workaround"] or {}).get("key", "-"), local_time(r["found_at"]),
             local_time(r["closed_at"]) if r["closed_at"] else "-")
            for r in rows
        ),
    )  # fmt: skip


@problem.command("show")
@click.argument("problem_id", type=int)
@output_option
@click.pass_obj
def show_cmd(config: AgentConfig, problem_id: int, output: str) -> None:
    """One problem with its tickets."""
    with App(config) as app:
        found = problems.get(app.store, problem_id)
    if found is None:
        _call(_raise, problem_id)
    _show(found, output)


def _raise(problem_id: int) -> None:
    raise KnowledgeError(f"no problem #{problem_id}")


def _show(found: dict[str, Any] | None, output: str) -> None:
    assert found is not None
    if output == "json":
        print_json(_json(found))
        return
    work = found["workaround"]
    print_table(
        tr("problem #{id}: {title}", id=found["id"], title=found["title"]),
        ["field", "value"],
        [
            (tr("status"), tr(found["status"])),
            (tr("root cause"), found["root_cause"] or "-"),
            (tr("workaround"), f"#{work['id']} {work['key']} ({tr(work['status'])})" if work else "-"),
            (tr("fix"), found["fix"] or "-"),
            (tr("found"), local_time(found["found_at"])),
            (tr("closed"), local_time(found["closed_at"]) if found["closed_at"] else "-"),
            (tr("grouping"), found["alertname"] or found["category"] or "-"),
        ],
    )
    print_table(
        None,
        ["incident", "status", "asset", "opened", "title"],
        ((i["id"], i["status"], i["asset"] or "-", local_time(i["opened_at"]), short(i["title"], 50))
         for i in found["incidents"]),
    )  # fmt: skip
