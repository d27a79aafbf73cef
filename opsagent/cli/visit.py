"""``opsagent visit plan|approve|note|signoff|show|report``: on-site visits (现场服务) from a ticket — the plan
(维修计划书) with its checklist and contract status, the customer's approval, progress notes, the sign-off
with the software left on site, and the printable plan (zh/en, Markdown/HTML/PDF)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from opsagent.app import App, actor
from opsagent.cli.common import EXIT_FAILED, local_time, output_option, print_json, print_table
from opsagent.cli.kb import _json, _valid
from opsagent.cli.service import _fmt, _lang, _out, _policy, _tz, _write
from opsagent.config import AgentConfig
from opsagent.errors import UsageError
from opsagent.i18n.catalog import tr
from opsagent.incidents.repo import IncidentError
from opsagent.knowledge import visit_report, visits
from opsagent.knowledge.visits import ApproveIn, NoteIn, PlanIn, SignoffIn, VisitError
from opsagent.reports.document import render


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except (VisitError, IncidentError) as exc:
        click.echo(tr("error: {error}", error=exc), err=True)
        raise click.exceptions.Exit(EXIT_FAILED) from None


def _when(text: str, tz: Any) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(tr("--date: {value} is not a date and time (YYYY-MM-DD HH:MM)", value=repr(text))) from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _software(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, version = pair.partition("=")
        if not sep:
            raise UsageError(tr("--software: {value} is not COMPONENT=VERSION", value=repr(pair)))
        out[name.strip()] = version.strip()
    return out


@click.group()
def visit() -> None:
    """On-site visits (现场服务): plan, customer approval, progress notes, sign-off, printable plan."""


@visit.command("plan")
@click.argument("incident_id", type=int)
@click.option("-e", "--engineer", "engineers", multiple=True, required=True, help="Engineer going (repeat).")
@click.option("--date", "when", required=True, help="YYYY-MM-DD HH:MM, the agent's time zone unless given.")
@click.option("--site", help="Address (default: the requester organisation's address).")
@click.option("--org", "organisation", help="Organisation visited (default: the requester's).")
@click.option("--contact", help="The customer's contact (default: the contract's first contact, else the requester).")
@click.option("--asset", help="Asset worked on (default: the ticket's asset).")
@click.option("--tool", "tools", multiple=True, help="Tool to bring (repeat).")
@click.option("--part", "spare_parts", multiple=True, help="Spare part to bring (repeat).")
@click.option("--backup", "backup_media", multiple=True, help="Backup media to bring (repeat).")
@click.option("--purpose", default="", help="What the visit is for (default: the ticket's title).")
@output_option
@click.pass_obj
def plan_cmd(config: AgentConfig, /, incident_id: int, when: str, output: str, **values: Any) -> None:
    """Plan a visit from a ticket: the checklist takes the asset's software versions, the plan shows the
    contract and warranty status; the customer's contact approves it before the visit."""
    policy = _policy(config)
    values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if v is not None}
    body = _valid(PlanIn, date=_when(when, _tz(policy, config)), **values)
    with App(config) as app:
        visit_id = _call(visits.plan, app.store, policy, incident_id, body, actor())
        found = visits.get(app.store, visit_id)
    _show(found, output)


@visit.command("approve")
@click.argument("visit_id", type=int)
@click.option("--by", required=True, help="The customer's contact who approved the plan.")
@click.option("--comment", default="")
@click.pass_obj
def approve_cmd(config: AgentConfig, visit_id: int, by: str, comment: str) -> None:
    """Record the customer's approval of the plan (who and when; you are recorded as who entered it)."""
    body = _valid(ApproveIn, by=by, comment=comment)
    with App(config) as app:
        _call(visits.approve, app.store, visit_id, body, actor())
    click.echo(tr("visit #{id}: approved by {who}", id=visit_id, who=body.by))


@visit.command("note")
@click.argument("visit_id", type=int)
@click.option("-m", "--message", required=True)
@click.pass_obj
def note_cmd(config: AgentConfig, visit_id: int, message: str) -> None:
    """A progress note during the visit (after the plan's approval)."""
    body = _valid(NoteIn, message=message)
    with App(config) as app:
        _call(visits.note, app.store, visit_id, body, actor())
    click.echo(tr("visit #{id}: noted", id=visit_id))


@visit.command("signoff")
@click.argument("visit_id", type=int)
@click.option("--by", required=True, help="The customer's representative who signs off (确认人).")
@click.option("--comment", default="")
@click.option("--software", multiple=True, help="COMPONENT=VERSION left on site (repeat): recorded on the asset.")
@click.pass_obj
def signoff_cmd(config: AgentConfig, visit_id: int, by: str, comment: str, software: tuple[str, ...]) -> None:
    """The customer's sign-off at the end of the visit (the ticket must be resolved)."""
    body = _valid(SignoffIn, by=by, comment=comment, software=_software(software))
    policy = _policy(config)
    with App(config) as app:
        _call(visits.signoff, app.store, policy, visit_id, body, actor())
    click.echo(tr("visit #{id}: signed off by {who}", id=visit_id, who=body.by))


def _get(config: AgentConfig, visit_id: int) -> dict[str, Any]:
    with App(config) as app:
        found = visits.get(app.store, visit_id)
    if found is None:
        click.echo(tr("error: no visit #{id}", id=visit_id), err=True)
        raise click.exceptions.Exit(EXIT_FAILED)
    return found


@visit.command("show")
@click.argument("visit_id", type=int)
@output_option
@click.pass_obj
def show_cmd(config: AgentConfig, visit_id: int, output: str) -> None:
    """A visit: arrangements, checklist, approval, notes."""
    _show(_get(config, visit_id), output)


@visit.command("report")
@click.argument("visit_id", type=int)
@_lang
@_fmt
@_out
@click.pass_obj
def report_cmd(config: AgentConfig, visit_id: int, lang: str | None, fmt: str, out: Path | None) -> None:
    """The printable plan (维修计划书), with approval, progress, software left and sign-off."""
    found = _get(config, visit_id)
    doc = visit_report.build(found, lang or config.lang, _tz(_policy(config), config))
    _write(render(doc, fmt), out, fmt)


def _show(found: dict[str, Any] | None, output: str) -> None:
    assert found is not None
    if output == "json":
        print_json(_json(found))
        return
    cov = found["coverage"]
    contract = f"{cov['contract']} ({tr('valid') if cov['valid'] else tr('expired')})" if cov.get("contract") else "-"
    check = found["checklist"]
    print_table(
        tr("visit #{id} · incident #{incident}: {title}", id=found["id"], incident=found["incident"]["id"],
           title=found["incident"]["title"]),
        ["field", "value"],
        [
            (tr("status"), tr(found["status"])),
            (tr("planned for"), local_time(found["planned_for"])),
            (tr("engineers"), ", ".join(found["engineers"])),
            (tr("site"), found["site"] or "-"),
            (tr("contact"), found["contact"] or "-"),
            (tr("asset"), found["asset"] or "-"),
            (tr("contract"), contract),
            *((tr(k.replace("_", " ")), "; ".join(check.get(k) or []) or "-")
              for k in ("tools", "spare_parts", "software", "backup_media")),
            (
                tr("approved"),
                f"{found['approved_by']} {local_time(found['approved_at'])}" if found["approved_by"] else "-",
            ),
            (tr("software left"), ", ".join(f"{k} {v}" for k, v in found["software_left"].items()) or "-"),
        ],
    )  # fmt: skip
    print_table(None, ["at", "kind", "by", "message"],
                ((local_time(n["at"]), n["kind"], n["actor"], n["message"]) for n in found["notes"]))  # fmt: skip
