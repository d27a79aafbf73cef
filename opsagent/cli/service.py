"""Service-level commands: ``opsagent incident pending|resume|assess|classify|signoff|followup|
followups|sla|oncall|sla-tick`` and ``opsagent report incident|period``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import click

from opsagent.app import App, actor
from opsagent.cli.common import EXIT_FAILED, output_option, print_json, print_table
from opsagent.cli.incident import incident
from opsagent.config import AgentConfig
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.i18n.catalog import tr
from opsagent.reports import period as period_report
from opsagent.reports import repair
from opsagent.reports.document import render
from opsagent.reports.i18n import LANGS
from opsagent.sla import service
from opsagent.sla.oncall import on_call, shifts
from opsagent.sla.policy import ServiceLevelPolicy, load_policy
from opsagent.store.engine import now


def _policy(config: AgentConfig) -> ServiceLevelPolicy:
    try:
        return load_policy(config.roots)
    except FileNotFoundError as exc:
        raise ConfigError([ConfigIssue("alerts/service-levels.yaml", None, "", str(exc))]) from None


def _tz(policy: ServiceLevelPolicy, config: AgentConfig | None = None) -> Any:
    """The reader's zone: the agent's `timezone` if set, else the default business calendar's."""
    if config is not None and config.timezone:
        return config.zone
    return policy.built_calendars[policy.default_calendar].tz


def _local(value: datetime | None, policy: ServiceLevelPolicy) -> str:
    return repair.local(value, _tz(policy))


def _json(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_json(v) for v in data]
    if hasattr(data, "as_dict"):
        return data.as_dict()
    return data.isoformat() if isinstance(data, datetime) else data


def _run(config: AgentConfig, incident_id: int, action: str, message: str, by: str | None, output: str, /,
         **fields: Any) -> None:  # fmt: skip
    policy = _policy(config)
    app = App(config)
    try:
        service.act(app.store, policy, incident_id, action, by or actor(), message, **fields)
        found = service.get(app.store, policy, incident_id)
    finally:
        app.close()
    assert found is not None
    if output == "json":
        print_json(_json(found))
    else:
        click.echo(
            tr(
                "incident #{id}: {status} · {clocks}",
                id=incident_id,
                status=found["status"],
                clocks=service.clocks_summary(found["clocks"]),
            )
        )


def _simple(name: str, action: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    @click.argument("incident_id", type=int)
    @click.option("-m", "--message", default="", help="A note for the event log.")
    @click.option("--by", help="Who does it (default: the login user).")
    @output_option
    @click.pass_obj
    def command(config: AgentConfig, incident_id: int, message: str, by: str | None, output: str) -> None:
        _run(config, incident_id, action, message, by, output)

    return command


incident.add_command(_simple("pending", "pending", "Waiting on the requester: pause the assessment/resolution clocks."))
incident.add_command(_simple("resume", "resume", "The requester answered: restart the paused clocks."))
incident.add_command(_simple("assess", "assess", "Initial assessment done (问题评估): stops the assessment clock."))
incident.add_command(_simple("archive", "archive", "Archive (归档) a closed incident."))


@incident.command()
@click.argument("incident_id", type=int)
@click.option("--impact", type=click.Choice(["high", "medium", "low"]), help="Impact (priority = impact × urgency).")
@click.option("--urgency", type=click.Choice(["high", "medium", "low"]))
@click.option("--symptom", help="故障现象, for the repair service report.")
@click.option("--result", help="处理结果, for the repair service report.")
@click.option("-m", "--message", default="")
@click.option("--by")
@output_option
@click.pass_obj
def classify(
    config: AgentConfig, /, incident_id: int, message: str, by: str | None, output: str, **fields: Any
) -> None:
    """Set impact and urgency (the policy's matrix sets the priority), symptom and result."""
    _run(config, incident_id, "classify", message, by, output, **fields)


@incident.command()
@click.argument("incident_id", type=int)
@click.option("--signed-by", required=True, help="The user's representative who confirms the repair (确认人).")
@click.option("-m", "--message", default="")
@click.option("--by")
@output_option
@click.pass_obj
def signoff(config: AgentConfig, incident_id: int, signed_by: str, message: str, by: str | None, output: str) -> None:
    """Record the user's sign-off of the repair service report (用户签字确认)."""
    _run(config, incident_id, "signoff", message, by, output, signed_by=signed_by)


@incident.command()
@click.argument("incident_id", type=int)
@click.option(
    "--satisfaction", type=click.IntRange(1, 5), required=True, help="1 (very dissatisfied) … 5 (very satisfied)"
)
@click.option("-m", "--comment", "message", default="", help="What the user said.")
@click.option("--by")
@output_option
@click.pass_obj
def followup(
    config: AgentConfig, incident_id: int, satisfaction: int, message: str, by: str | None, output: str
) -> None:
    """Record the follow-up call (维修结果复查) and satisfaction; closes (and archives) the incident."""
    _run(config, incident_id, "followup", message, by, output, satisfaction=satisfaction)


@incident.command()
@click.option("--all", "include_done", is_flag=True, help="Include follow-ups already done.")
@output_option
@click.pass_obj
def followups(config: AgentConfig, include_done: bool, output: str) -> None:
    """Follow-up tasks: resolved incidents to call back N working days after the fix."""
    policy = _policy(config)
    app = App(config)
    try:
        rows = service.followups(app.store, policy, now(), include_done)
    finally:
        app.close()
    if output == "json":
        print_json(_json(rows))
        return
    print_table(
        None,
        ["#", "due", "follow-up on", "title", "asset", "prio", "resolved", "done", "score"],
        (
            (r["id"], tr("DUE") if r["due"] else "", _local(r["followup_due_at"], policy), r["title"][:50], r["asset"],
             r["priority"], _local(r["resolved_at"], policy), _local(r["followed_up_at"], policy), r["satisfaction"])
            for r in rows
        ),
    )  # fmt: skip


def _incident_with_service(config: AgentConfig, policy: ServiceLevelPolicy, incident_id: int) -> dict[str, Any]:
    """The incident with its clocks and service record; exits with a message when there is none."""
    app = App(config)
    try:
        found = service.get(app.store, policy, incident_id)
    finally:
        app.close()
    if found is None:
        click.echo(tr("no incident #{id}", id=incident_id), err=True)
        raise click.exceptions.Exit(EXIT_FAILED)
    return found


@incident.command()
@click.argument("incident_id", type=int)
@output_option
@click.pass_obj
def sla(config: AgentConfig, incident_id: int, output: str) -> None:
    """SLA clocks of one incident, recomputed from its event log now."""
    policy = _policy(config)
    found = _incident_with_service(config, policy, incident_id)
    clocks = found["clocks"]
    if output == "json":
        print_json({name: c.as_dict() for name, c in clocks.items()})
        return
    print_table(
        tr("incident #{id} ({priority}, {requester})", id=incident_id, priority=found["priority"],
           requester=found["requester_type"]),
        ["target", "state", "due", "used", "allowed", "paused", "breached"],
        (
            (n, c.state, _local(c.due, policy), repair.duration(c.used, "en"), repair.duration(c.budget, "en"),
             repair.duration(c.paused_seconds, "en"), "YES" if c.breached else "")
            for n, c in clocks.items()
        ),
    )  # fmt: skip


@incident.command()
@click.option("--weeks", type=int, default=4, show_default=True)
@click.pass_obj
def oncall(config: AgentConfig, weeks: int) -> None:
    """Who is on call now, and the coming hand-overs of each rotation."""
    policy = _policy(config)
    moment = now()
    for name, rotation in policy.oncall.items():
        count = weeks if rotation.every == "weekly" else weeks * 7
        current, *coming = shifts(rotation, moment, count)
        click.echo(
            tr(
                "{rotation}: {who} (now, since {since})",
                rotation=name,
                who=on_call(rotation, moment),
                since=_local(current[0], policy),
            )
        )
        for at, who in coming:
            click.echo(tr("  from {at}: {who}", at=_local(at, policy), who=who))


@incident.command("sla-tick")
@output_option
@click.pass_obj
def sla_tick(config: AgentConfig, output: str) -> None:
    """Recompute every active incident's clocks and record due escalations (serve does this on its own)."""
    policy = _policy(config)
    app = App(config)
    try:
        fired = service.tick(app.store, policy)
    finally:
        app.close()
    if output == "json":
        print_json([{"incident": f.incident_id} | f.step.as_detail() for f in fired])
        return
    for f in fired:
        click.echo(
            tr(
                "incident #{id}: {target} level {level} → {notify}",
                id=f.incident_id,
                target=f.step.target,
                level=f.step.level,
                notify=", ".join(f.step.notify),
            )
        )
    click.echo(tr("{n} escalation(s)", n=len(fired)))


# -- reports ---------------------------------------------------------------------------------------
@click.group()
def report() -> None:
    """Reports: the repair service report of an incident, period (quarterly) statistics."""


def _write(data: bytes, out: Path | None, fmt: str) -> None:
    if out is None:
        if fmt == "pdf" and sys.stdout.isatty():
            raise click.UsageError(tr("a PDF goes to a file: add -o FILE.pdf"))
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        click.echo(tr("wrote {path}", path=out), err=True)


_lang = click.option("--lang", type=click.Choice(LANGS), help="Report language (default: the agent's `language`).")
_fmt = click.option("--format", "fmt", type=click.Choice(["md", "html", "pdf"]), default="md", show_default=True)
_out = click.option("-o", "--output", "out", type=click.Path(path_type=Path, dir_okay=False), help="File to write.")
F = TypeVar("F", bound=Callable[..., Any])


@report.command("incident")
@click.argument("incident_id", type=int)
@_lang
@_fmt
@_out
@click.pass_obj
def incident_report(config: AgentConfig, incident_id: int, lang: str | None, fmt: str, out: Path | None) -> None:
    """维修服务报告: symptom, cause, steps, result, timeline, service level, follow-up, sign-off."""
    policy = _policy(config)
    found = _incident_with_service(config, policy, incident_id)
    _write(render(repair.build(found, lang or config.lang, _tz(policy, config)), fmt), out, fmt)


def _parse_day(value: str, tz: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(tr("{value} is not a date (YYYY-MM-DD)", value=repr(value))) from None
    if len(value) == 10:
        parsed = datetime.combine(date.fromisoformat(value), time(0))
    return parsed.replace(tzinfo=tz).astimezone(UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _quarter(text: str, tz: Any) -> tuple[datetime, datetime]:
    try:
        year, q = int(text[:4]), int(text.upper().split("Q")[1])
        assert 1 <= q <= 4
    except (ValueError, IndexError, AssertionError):
        raise click.BadParameter(tr("{value}: use e.g. 2026Q3", value=repr(text))) from None
    start = datetime(year, 3 * q - 2, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz) if q == 4 else datetime(year, 3 * q + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _month(text: str, tz: Any) -> tuple[datetime, datetime]:
    try:
        year, month = (int(part) for part in text.split("-"))
        start = datetime(year, month, 1, tzinfo=tz)
    except ValueError:
        raise click.BadParameter(tr("{value}: use e.g. 2026-07", value=repr(text))) from None
    end = datetime(year + 1, 1, 1, tzinfo=tz) if month == 12 else datetime(year, month + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _year(text: str, tz: Any) -> tuple[datetime, datetime]:
    if not text.isdigit() or not 1970 <= int(text) <= 9998:
        raise click.BadParameter(tr("{value}: use e.g. 2026", value=repr(text)))
    year = int(text)
    return datetime(year, 1, 1, tzinfo=tz).astimezone(UTC), datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC)


def _range(start: str | None, end: str | None, quarter: str | None, month: str | None, year: str | None,
           tz: Any) -> tuple[datetime, datetime]:  # fmt: skip
    given = [name for name, value in (("--quarter", quarter), ("--month", month), ("--year", year)) if value]
    if len(given) > 1 or (given and (start or end)):
        raise click.UsageError(tr("give one of --from/--to, --quarter, --month or --year"))
    if quarter:
        return _quarter(quarter, tz)
    if month:
        return _month(month, tz)
    if year:
        return _year(year, tz)
    if start and end:
        return _parse_day(start, tz), _parse_day(end, tz)
    raise click.UsageError(tr("give --from and --to, or --quarter, --month or --year"))


def _period_options(command: F) -> F:
    """The options of a report over a period: --from/--to, --quarter, --month or --year (see
    :func:`_period`), --lang, --format (md, html, pdf or json) and -o."""
    for option in reversed((
        click.option("--from", "start", help="First day (YYYY-MM-DD, local time of the policy's calendar)."),
        click.option("--to", "end", help="Day after the last (exclusive), YYYY-MM-DD."),
        click.option("--quarter", help="Instead of --from/--to: e.g. 2026Q3."),
        click.option("--month", help="Instead of --from/--to: e.g. 2026-07."),
        click.option("--year", help="Instead of --from/--to: e.g. 2026."),
        _lang,
        click.option("--format", "fmt", type=click.Choice(["md", "html", "pdf", "json"]), default="html",
                     show_default=True),
        _out,
    )):  # fmt: skip
        command = option(command)
    return command


def _period(start: str | None, end: str | None, quarter: str | None, month: str | None, year: str | None,
            tz: Any) -> tuple[datetime, datetime]:  # fmt: skip
    """The period the options name, as UTC [from, to)."""
    lo, hi = _range(start, end, quarter, month, year, tz)
    if hi <= lo:
        raise click.BadParameter(tr("--to must be after --from"))
    return lo, hi


@report.command("period")
@_period_options
@click.pass_obj
def period(config: AgentConfig, start: str | None, end: str | None, quarter: str | None, month: str | None,
           year: str | None, lang: str | None, fmt: str, out: Path | None) -> None:  # fmt: skip
    """Statistics of the incidents opened in a period, by project, fault type, asset kind, asset,
    priority and source; MTTA/MTTR; SLA compliance; top faults; satisfaction; with charts. The title
    follows the period (quarterly, monthly, half-yearly, annual, or the dates of any other range)."""
    policy = _policy(config)
    tz = _tz(policy, config)
    lang = lang or config.lang
    lo, hi = _period(start, end, quarter, month, year, tz)
    from opsagent.knowledge.problems import for_period

    app = App(config)
    try:
        stats = period_report.load_stats(app.store, policy, lo, hi, now())
        problems = for_period(app.store, lo, hi)
    finally:
        app.close()
    if fmt == "json":
        data = stats.summary() | {"problems": period_report.problems_json(problems)}
        print_json(data) if out is None else out.write_text(_dumps(data), encoding="utf-8")
        return
    doc = period_report.build(stats, lang, tz, now(), problems)
    _write(render(doc, fmt), out, fmt)


@report.command("contract")
@click.argument("name")
@_period_options
@click.pass_obj
def contract_report(config: AgentConfig, name: str, start: str | None, end: str | None, quarter: str | None,
                    month: str | None, year: str | None, lang: str | None, fmt: str,
                    out: Path | None) -> None:  # fmt: skip
    """服务协议报告: SLA compliance of one service contract's tickets opened in a period (met, breached,
    rate per target, every breach listed), to show the customer."""
    from opsagent.reports import contract as contract_report_

    policy = _policy(config)
    tz = _tz(policy, config)
    lo, hi = _period(start, end, quarter, month, year, tz)
    app = App(config)
    try:
        stats = contract_report_.load_contract_stats(app.store, policy, name, lo, hi, now())
    except KeyError:
        raise click.BadParameter(tr("no service contract {name} in desk/contracts.yaml", name=repr(name))) from None
    finally:
        app.close()
    if fmt == "json":
        data = stats.summary()
        print_json(data) if out is None else out.write_text(_dumps(data), encoding="utf-8")
        return
    _write(render(contract_report_.build(stats, lang or config.lang, tz, now()), fmt), out, fmt)


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=2)
