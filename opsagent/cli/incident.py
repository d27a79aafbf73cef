"""``opsagent incident list|show|ack|assign|note|escalate|resolve|close|reopen|update``."""

from __future__ import annotations

from typing import Any

import click

from opsagent.app import App, actor
from opsagent.cli.common import EXIT_FAILED, local_time, output_option, print_json, print_table, short
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.incidents import repo
from opsagent.incidents.model import PRIORITIES, Category, RequesterType, Status
from opsagent.knowledge import problems, visits
from opsagent.knowledge.suggest import for_incident as suggestions


def _when(value: Any) -> str:
    return local_time(value) if value is not None else ""


def _json_ready(incident: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in incident.items() if k != "events"} | (
        {"events": [_json_ready(e) for e in incident["events"]]} if "events" in incident else {}
    )


@click.group()
def incident() -> None:
    """Incidents opened by alerts (and Alertmanager webhooks): list, show and work on them."""


@incident.command("list")
@click.option(
    "-s",
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in Status] + ["active", "all"]),
    default=("active",),
    show_default=True,
    help="active = open + acknowledged; repeatable",
)
@click.option("--asset", help="Only incidents of this asset.")
@click.option("-n", "--limit", type=int, default=100, show_default=True)
@click.option("--archived", is_flag=True, help="Archived (归档) incidents too; hidden by default.")
@click.option("--all", "everything", is_flag=True, help="Every incident: any status, archived too.")
@output_option
@click.pass_obj
def list_cmd(
    config: AgentConfig, statuses: tuple[str, ...], asset: str | None, limit: int, archived: bool, everything: bool,
    output: str,
) -> None:  # fmt: skip
    """List incidents, newest first. Archived incidents are hidden unless --archived or --all."""
    wanted: set[str] = set()
    for s in ("all",) if everything else statuses:
        if s == "all":
            wanted = set()
            break
        wanted |= {"open", "acknowledged"} if s == "active" else {s}
    if archived and not everything and statuses == ("active",):
        wanted = set()  # archived incidents are closed: --archived alone lists every status
    with App(config) as app:
        rows = repo.list_incidents(
            app.store, tuple(sorted(wanted)) or None, asset, limit, None if archived or everything else False
        )
    if output == "json":
        print_json([_json_ready(r) for r in rows])
        return
    print_table(
        None,
        ["#", "status", "prio", "category", "asset", "title", "count", "assignee", "opened"],
        (
            (
                r["id"],
                r["status"] + (" (flapping)" if r["flapping"] else "") + (" (archived)" if r["archived_at"] else ""),
                r["priority"],
                r["category"],
                r["asset"],
                short(r["title"], 60),
                r["count"],
                r["assignee"],
                _when(r["opened_at"]),
            )
            for r in rows
        ),
    )


@incident.command()
@click.argument("incident_id", type=int)
@output_option
@click.pass_obj
def show(config: AgentConfig, incident_id: int, output: str) -> None:
    """One incident with its event log."""
    with App(config) as app:
        found = repo.get(app.store, incident_id)
        if found is not None:
            found["knowledge"] = suggestions(app.store, incident_id, config.lang)
            found["problems"] = problems.for_incident(app.store, incident_id)
            found["visits"] = [_json_ready({k: v[k] for k in ("id", "status", "planned_for", "engineers")})
                               for v in visits.for_incident(app.store, incident_id)]  # fmt: skip
    if found is None:
        click.echo(tr("no incident #{id}", id=incident_id), err=True)
        raise click.exceptions.Exit(EXIT_FAILED)
    if output == "json":
        print_json(_json_ready(found) | {"knowledge": [_json_ready(k) for k in found["knowledge"]]})
        return
    fields = [
        "status", "title", "alertname", "source", "asset", "severity", "priority", "category", "requester_type",
        "assignee", "count", "value", "resolve_policy", "cause", "resolution_steps", "suppressed", "fingerprint",
    ]  # fmt: skip
    rows = [(f, short(found[f], 100) if f in ("suppressed",) else found[f]) for f in fields]
    rows += [(f, _when(found[f])) for f in ("opened_at", "acknowledged_at", "resolved_at", "closed_at")]
    rows += [("labels", short(found["labels"], 200)), ("annotations", short(found["annotations"], 200))]
    rows += [("problems", ", ".join(f"#{p}" for p in found["problems"]) or "-")]
    rows += [("visits", ", ".join(f"#{v['id']} {v['status']} {v['planned_for'][:16]}" for v in found["visits"]) or "-")]
    print_table(tr("incident #{id}", id=incident_id), ["field", "value"], rows)
    print_table(
        "events",
        ["at", "event", "by", "message"],
        ((_when(e["at"]), e["kind"], e["actor"], short(e["message"], 100)) for e in found["events"]),
    )
    if found["knowledge"]:
        print_table(
            "knowledge (opsagent kb show ID; kb link ID INCIDENT when it helped)",
            ["article", "title", "score", "why", "used"],
            ((k["article_id"], short(k["title"], 60), k["score"], ", ".join(k["reasons"]), k["used_by"] or "")
             for k in found["knowledge"]),
        )  # fmt: skip


def _action(name: str, help_text: str, needs_message: bool = False) -> click.Command:
    @click.command(name=name, help=help_text)
    @click.argument("incident_id", type=int)
    @click.option("-m", "--message", default="", help="A note for the event log.", required=needs_message)
    @click.option("--by", "by", help="Who does it (default: the login user).")
    @output_option
    @click.pass_obj
    def command(
        config: AgentConfig, /, incident_id: int, message: str, by: str | None, output: str, **fields: Any
    ) -> None:
        with App(config) as app:
            result = repo.act(app.store, incident_id, name, by or actor(), message, **fields)
        _done(result, output)

    return command


def _done(result: dict[str, Any], output: str) -> None:
    if output == "json":
        print_json(_json_ready(result))
    else:
        click.echo(tr("incident #{id}: {status}", id=result["id"], status=result["status"]))


for _name, _help in (
    ("ack", "Acknowledge: someone is on it."),
    ("escalate", "Escalate (event log; the service-level issue adds policies)."),
    ("reopen", "Reopen a resolved or closed incident."),
):
    incident.add_command(_action(_name, _help))
incident.add_command(_action("note", "Add a note to the event log.", needs_message=True))

_fields = [
    click.option("--cause", help="Root cause."),
    click.option("--steps", "resolution_steps", help="Resolution steps taken."),
]
resolve = _action("resolve", "Resolve (for rules with opsagent_resolve: manual, this is the confirmation).")
close = _action("close", "Close: resolved and confirmed; no automatic reopening.")
for _cmd in (resolve, close):
    for _opt in _fields:
        _opt(_cmd)
    incident.add_command(_cmd)

assign = _action("assign", "Assign to a person or team.")
click.argument("assignee")(assign)
incident.add_command(assign)

update_cmd = _action("update", "Change priority, category, requester type, cause or resolution steps.")
for _opt in (
    click.option("--priority", type=click.Choice(PRIORITIES)),
    click.option("--category", type=click.Choice([c.value for c in Category])),
    click.option("--requester-type", "requester_type", type=click.Choice([r.value for r in RequesterType])),
    *_fields,
):
    _opt(update_cmd)
incident.add_command(update_cmd)
