"""``opsagent alert rules|states|silence|maintenance``: rules, current states, silences and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import select

from opsagent.alerts import silences as sil
from opsagent.alerts.rulefile import load_rules
from opsagent.app import App, actor
from opsagent.cli.common import local_time, output_option, print_json, print_table, short
from opsagent.cli.params import DURATION
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.store import schema


@click.group()
def alert() -> None:
    """Alert rules, their current states, silences and maintenance windows."""


@alert.command()
@output_option
@click.pass_obj
def rules(config: AgentConfig, output: str) -> None:
    """The alerting rules loaded from the content roots (fails like `check` on an invalid file)."""
    loaded = load_rules(config.roots)
    if output == "json":
        print_json(
            [
                {
                    "group": r.group,
                    "alert": r.name,
                    "expr": r.expr_text,
                    "for": r.for_,
                    "source": r.source,
                    "resolve": r.resolve,
                    "recover": r.recover is not None,
                }
                for r in loaded
            ]
        )
        return
    print_table(
        None,
        ["group", "alert", "for", "expr", "file"],
        ((r.group, r.name, f"{r.for_:g}s", short(r.expr_text.strip(), 70), r.source) for r in loaded),
    )


@alert.command()
@output_option
@click.pass_obj
def states(config: AgentConfig, output: str) -> None:
    """Pending and firing alerts as the running agent last stored them."""
    app = App(config)
    try:
        with app.store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(schema.alert_states))]
    finally:
        app.close()
    if output == "json":
        print_json(rows)
        return
    print_table(
        None,
        ["alert", "state", "labels", "value", "incident"],
        (
            (
                r["rule"],
                r["state"] + (" (flapping)" if r["flapping"] else ""),
                short(r["labels"], 70),
                r["value"],
                r["incident_id"],
            )
            for r in rows
        ),
    )


def _parse_time(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            tr("not an ISO time: {value} (e.g. 2024-05-01T22:00 or 2024-05-01T22:00+08:00)", value=repr(value))
        ) from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.astimezone().astimezone(UTC)


def _add(kind: str) -> click.Command:
    @click.command("add", help=f'Add a {kind}: MATCHER... like alertname=HostDown asset=~"bj-.*".')
    @click.argument("matchers", nargs=-1, required=True)
    @click.option("--start", help="ISO time (local unless a zone is given); default now.")
    @click.option("--end", help="ISO time; or use --duration.")
    @click.option(
        "-d", "--duration", type=DURATION, default="2h", show_default=True, help="Length when --end is not given."
    )
    @click.option("-c", "--comment", required=True, help="Why (change ticket, work being done).")
    @click.option("--by", help="Creator (default: the login user).")
    @click.pass_obj
    def add(
        config: AgentConfig, matchers: tuple[str, ...], start: str | None, end: str | None, duration: float,
        comment: str, by: str | None,
    ) -> None:  # fmt: skip
        starts = _parse_time(start, datetime.now(UTC))
        ends = _parse_time(end, starts + timedelta(seconds=duration))
        app = App(config)
        try:
            new_id = sil.add_silence(app.store, list(matchers), starts, ends, by or actor(), comment, kind)
        except sil.SilenceError as exc:
            raise click.BadParameter(str(exc)) from None
        finally:
            app.close()
        click.echo(
            tr(
                "{kind} #{id} from {start} to {end}",
                kind=tr(kind),
                id=new_id,
                start=local_time(starts),
                end=local_time(ends),
            )
        )

    return add


def _list(kind: str) -> click.Command:
    @click.command("list", help=f"Active and pending {kind}s (--all: expired too).")
    @click.option("--all", "include_expired", is_flag=True)
    @output_option
    @click.pass_obj
    def list_cmd(config: AgentConfig, include_expired: bool, output: str) -> None:
        app = App(config)
        try:
            rows = [r for r in sil.list_silences(app.store, include_expired) if r["kind"] == kind]
        finally:
            app.close()
        if output == "json":
            print_json(rows)
            return
        print_table(
            None,
            ["#", "state", "matchers", "starts", "ends", "by", "comment"],
            (
                (
                    r["id"],
                    r["state"],
                    " ".join(r["matchers"]),
                    local_time(r["starts_at"]),
                    local_time(r["ends_at"]),
                    r["created_by"],
                    short(r["comment"], 50),
                )
                for r in rows
            ),
        )

    return list_cmd


@click.command("expire")
@click.argument("silence_id", type=int)
@click.pass_obj
def expire(config: AgentConfig, silence_id: int) -> None:
    """End a silence or maintenance window now."""
    app = App(config)
    try:
        sil.expire_silence(app.store, silence_id, actor())
    except sil.SilenceError as exc:
        raise click.BadParameter(str(exc)) from None
    finally:
        app.close()
    click.echo(tr("#{id} expired", id=silence_id))


for _kind in ("silence", "maintenance"):
    _group = click.Group(_kind, help=f"{_kind.title()}s: mute matching alerts for a time range.")
    _group.add_command(_add(_kind))
    _group.add_command(_list(_kind))
    _group.add_command(expire)
    alert.add_command(_group)
