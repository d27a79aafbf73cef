"""``opsagent desk``: the service desk — log a call as a ticket, requester records (用户档案) and
organisations, service contracts. Tickets are incidents: work on them with ``opsagent incident``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from opsagent.app import App, actor
from opsagent.cli.common import EXIT_FAILED, EXIT_INVALID, err_console, output_option, print_json, print_table
from opsagent.config import AgentConfig
from opsagent.desk import records
from opsagent.desk.intake import IntakeError, RequesterSpec, TicketRequest, inventory_resolver, open_ticket
from opsagent.desk.privacy import mask_email, mask_phone
from opsagent.errors import SelectorError
from opsagent.i18n.catalog import tr


def _invalid(message: str) -> None:
    err_console().print(tr("error: {error}", error=message), markup=False, highlight=False)
    raise click.exceptions.Exit(EXIT_INVALID)


def _describe(exc: ValidationError) -> str:
    parts = []
    for problem in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in problem["loc"])
        parts.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return "; ".join(parts)


def _is_phone(text: str) -> bool:
    try:
        return records.clean_phone(text) is not None
    except ValueError:
        return False


def _jsonable(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_jsonable(v) for v in data]
    return data.isoformat() if hasattr(data, "isoformat") else data


@click.group()
def desk() -> None:
    """The service desk: log calls as tickets; requester records, organisations, contracts."""


@desk.command("log")
@click.option("-t", "--title", required=True, help="What the caller reports, in one line.")
@click.option("--channel", type=click.Choice(["phone", "email", "portal", "api"]), default="phone", show_default=True)
@click.option("--type", "kind", type=click.Choice(["incident", "service_request"]), default="incident",
              show_default=True, help="incident: something broke; service_request: something wanted.")  # fmt: skip
@click.option("-r", "--requester", help="Who calls: requester id, email, phone or name (looked up).")
@click.option("--name", help="New requester: name (when the lookup finds nobody).")
@click.option("--phone", help="New requester: phone.")
@click.option("--email", help="New requester: email.")
@click.option("--department", default="", help="New requester: department.")
@click.option("--org", "organisation", help="New requester: organisation (department or customer).")
@click.option("--requester-type", type=click.Choice(["internal", "external"]), help="New requester: type.")
@click.option("-c", "--category", required=True, help="Category of desk/categories.yaml (software, hardware …).")
@click.option("-s", "--subcategory", default="", help="Sub-category of that category.")
@click.option("--impact", type=click.Choice(["high", "medium", "low"]))
@click.option("--urgency", type=click.Choice(["high", "medium", "low"]))
@click.option("--assets", default="", help="Affected assets: an inventory selector.")
@click.option("--symptom", default="", help="故障现象: what the caller sees.")
@click.option("--request", "request_text", default="", help="What the user asks for.")
@click.option("--promise", "promises", default="", help="What the desk promised the caller.")
@click.option("--team", help="Responsible team (default: the routing rules decide).")
@click.option("-d", "--description", default="")
@output_option
@click.pass_obj
def log_cmd(config: AgentConfig, /, output: str, **opts: Any) -> None:
    """Log a call: open a ticket (an incident with source = channel) for a requester."""
    who = {"name": opts.pop("name"), "phone": opts.pop("phone"), "email": opts.pop("email"),
           "department": opts.pop("department"), "organisation": opts.pop("organisation"),
           "type": opts.pop("requester_type")}  # fmt: skip
    ref = opts.pop("requester")
    if ref:
        key = "id" if ref.lstrip("#").isdigit() and len(ref) < 10 else "email" if "@" in ref else "name"
        if key == "name" and _is_phone(ref):
            key = "phone"
        who.setdefault(key, None)
        who[key] = int(ref.lstrip("#")) if key == "id" else ref
    try:
        spec = RequesterSpec.model_validate({k: v for k, v in who.items() if v not in (None, "")})
        req = TicketRequest.model_validate(
            {
                "title": opts["title"],
                "channel": opts["channel"],
                "type": opts["kind"],
                "requester": spec,
                "category": opts["category"],
                "subcategory": opts["subcategory"],
                "impact": opts["impact"],
                "urgency": opts["urgency"],
                "assets": opts["assets"],
                "symptom": opts["symptom"],
                "request": opts["request_text"],
                "promises": opts["promises"],
                "team": opts["team"],
                "description": opts["description"],
            }
        )
    except ValidationError as exc:
        _invalid(_describe(exc))
    from opsagent.desk.content import load_desk
    from opsagent.sla.policy import load_policy

    policy, content = load_policy(config.roots), load_desk(config.roots)
    app = App(config)
    try:
        resolver = inventory_resolver(app.inventory()) if req.assets else None
        opened = open_ticket(app.store, policy, content, req, actor(), resolver)
    except (IntakeError, SelectorError) as exc:
        _invalid(str(exc))
    finally:
        app.close()
    if output == "json":
        print_json(opened.as_dict())
        return
    flags = tr(" · flagged: {flags}", flags=", ".join(opened.flags)) if opened.flags else ""
    contract = tr(" · contract {name}", name=opened.contract) if opened.contract else ""
    click.echo(
        tr("ticket #{id}: {priority} · team {team}", id=opened.id, priority=opened.priority, team=opened.team)
        + contract
        + flags
    )


@desk.command("onsite")
@click.argument("incident_id", type=int)
@click.option("-m", "--message", default="")
@click.pass_obj
def onsite_cmd(config: AgentConfig, incident_id: int, message: str) -> None:
    """An engineer arrived on site (上门服务): stops the contract's on-site clock."""
    from opsagent.desk.actions import on_site

    app = App(config)
    try:
        on_site(app.store, incident_id, actor(), message)
    finally:
        app.close()
    click.echo(tr("incident #{id}: on site", id=incident_id))


# -- requester records --------------------------------------------------------------------------------
@desk.group()
def requester() -> None:
    """Requester records (用户档案): people who raise tickets."""


@requester.command("add")
@click.argument("name")
@click.option("--phone")
@click.option("--email")
@click.option("--department", default="")
@click.option("--org", "organisation", help="Organisation (created when new, of the requester's type).")
@click.option("--type", "kind", type=click.Choice(["internal", "external"]), help="Default: the organisation's.")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--channel", type=click.Choice(list(records.CHANNELS)), default="phone", show_default=True)
@click.option("--asset", "assets", multiple=True, help="An asset this person uses (repeatable).")
@click.option("--notes", default="")
@output_option
@click.pass_obj
def requester_add(
    config: AgentConfig, /, name: str, kind: str | None, channel: str, output: str, **fields: Any
) -> None:
    """Add a person."""
    try:
        person = records.RequesterIn.model_validate(
            {k: v for k, v in fields.items() if v not in (None, "")}
            | {"name": name, "type": kind, "preferred_channel": channel, "assets": list(fields["assets"])}
        )
    except ValidationError as exc:
        _invalid(_describe(exc))
    app = App(config)
    try:
        found = records.add_requester(app.store, person, actor())
    except records.RecordError as exc:
        _invalid(str(exc))
    finally:
        app.close()
    if output == "json":
        print_json(_jsonable(found))
    else:
        click.echo(tr("requester #{id}: {name} ({type})", id=found["id"], name=found["name"], type=found["type"]))


@requester.command("list")
@click.option("--org", "organisation", help="Only this organisation's people.")
@click.option("-n", "--limit", type=int, default=1000, show_default=True)
@click.option("--masked", is_flag=True, help="Mask phone numbers and emails (for third parties).")
@output_option
@click.pass_obj
def requester_list(config: AgentConfig, organisation: str | None, limit: int, masked: bool, output: str) -> None:
    """List people (reading records in bulk is audited)."""
    app = App(config)
    try:
        rows = records.list_requesters(app.store, actor(), organisation, max(1, min(limit, 100_000)))
    finally:
        app.close()
    if masked:
        rows = [r | {"phone": mask_phone(r["phone"]), "email": mask_email(r["email"])} for r in rows]
    if output == "json":
        print_json(_jsonable(rows))
        return
    print_table(
        None,
        ["ID", "NAME", "TYPE", "ORGANISATION", "DEPARTMENT", "PHONE", "EMAIL", "ASSETS"],
        [[r["id"], r["name"], r["type"], r["organisation"] or "", r["department"], r["phone"] or "",
          r["email"] or "", ",".join(a["asset"] for a in r["assets"])] for r in rows],
    )  # fmt: skip


@requester.command("show")
@click.argument("ref")
@output_option
@click.pass_obj
def requester_show(config: AgentConfig, ref: str, output: str) -> None:
    """One person by id, email, phone or name: record, assets, recent tickets (audited)."""
    app = App(config)
    try:
        found = records.get(app.store, ref, actor())
    except records.RecordError as exc:
        _invalid(str(exc))
    finally:
        app.close()
    if found is None:
        err_console().print(tr("no requester {ref}", ref=repr(ref)), markup=False, highlight=False)
        raise click.exceptions.Exit(1)
    if output == "json":
        print_json(_jsonable(found))
        return
    for key in ("id", "name", "type", "organisation", "department", "phone", "email", "language",
                "preferred_channel", "notes"):  # fmt: skip
        click.echo(f"{tr(key):18} {found.get(key) or ''}")
    click.echo(f"{tr('assets'):18} " + ", ".join(f"{a['asset']} ({tr(a['relation'])})" for a in found["assets"]))
    for t in found["tickets"]:
        click.echo(tr("ticket #{id}", id=f"{t['id']:<6}") + f" {t['status']:<13} {t['type']:<16} {t['title']}")


@requester.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate only; write nothing.")
@click.pass_obj
def requester_import(config: AgentConfig, path: Path, dry_run: bool) -> None:
    """Import people from CSV (headers 姓名, 部门, 电话, 邮箱, 类型, 单位, 语言, 首选渠道, 备注, 资产 or
    their English names; UTF-8, UTF-8 with BOM, GBK/GB18030). One transaction: a bad row changes nothing."""
    from opsagent.desk.csvimport import import_file

    app = App(config)
    try:
        result = import_file(app.store, path, actor(), dry_run)
    finally:
        app.close()
    _said_imported(result, dry_run, "row(s)")


_IMPORTED = {  # (dry run, unit) → the summary line (catalog keys)
    (True, "row(s)"): "would import {rows} row(s): {added} added, {updated} updated",
    (False, "row(s)"): "imported {rows} row(s): {added} added, {updated} updated",
    (True, "entr(y/ies)"): "would import {rows} entr(y/ies): {added} added, {updated} updated",
    (False, "entr(y/ies)"): "imported {rows} entr(y/ies): {added} added, {updated} updated",
}


def _said_imported(result: Any, dry_run: bool, unit: str) -> None:
    click.echo(tr(_IMPORTED[dry_run, unit], rows=result.rows, added=result.added, updated=result.updated))


@requester.command("import-ldap")
@click.option("--url", required=True, help="ldap://host:port or ldaps://host:port")
@click.option("--base", required=True, help="Search base, e.g. ou=people,dc=corp,dc=example")
@click.option("--bind-dn", help="Bind as (default: anonymous).")
@click.option("--password", help="Bind password reference: env:NAME or file:PATH (never the password itself).")
@click.option("--filter", "ldap_filter", default="(|(objectClass=inetOrgPerson)(objectClass=user))", show_default=True)
@click.option("--type", "kind", type=click.Choice(["internal", "external"]), default="internal", show_default=True)
@click.option("--org", "organisation", help="Organisation of entries that carry none (o / company).")
@click.option("--dry-run", is_flag=True)
@click.pass_obj
def requester_import_ldap(config: AgentConfig, /, dry_run: bool, **opts: Any) -> None:
    """Import people from LDAP / Active Directory (cn/displayName, mail, mobile/telephoneNumber,
    departmentNumber/department, o/company). One transaction: a bad entry changes nothing."""
    from opsagent.desk.ldapimport import LdapError, LdapSource, import_ldap
    from opsagent.errors import SecretError

    if opts["password"] and not opts["password"].startswith(("env:", "file:")):
        _invalid("--password: give a reference (env:NAME or file:PATH), not the password")
    source = LdapSource(opts["url"], opts["base"], opts["bind_dn"], opts["password"], opts["ldap_filter"],
                        opts["kind"], opts["organisation"])  # fmt: skip
    app = App(config)
    try:
        result = import_ldap(app.store, source, actor(), dry_run)
    except (LdapError, SecretError) as exc:
        err_console().print(tr("error: {error}", error=exc), markup=False, highlight=False)
        raise click.exceptions.Exit(1) from None
    finally:
        app.close()
    _said_imported(result, dry_run, "entr(y/ies)")


@requester.command("export")
@click.option("--masked/--unmasked", default=True, show_default=True, help="Mask phone numbers and emails.")
@click.pass_obj
def requester_export(config: AgentConfig, masked: bool) -> None:
    """Every person as CSV on stdout (audited as an export)."""
    import csv
    import sys

    app = App(config)
    try:
        rows = records.list_requesters(app.store, actor(), None, 1_000_000, export=True)
    finally:
        app.close()
    out = csv.writer(sys.stdout)
    out.writerow(["姓名", "部门", "电话", "邮箱", "类型", "单位", "语言", "首选渠道", "资产"])
    for r in rows:
        phone, email = (mask_phone(r["phone"]), mask_email(r["email"])) if masked else (r["phone"], r["email"])
        kind = "内部" if r["type"] == "internal" else "外部"
        out.writerow([r["name"], r["department"], phone or "", email or "", kind, r["organisation"] or "",
                      r["language"], r["preferred_channel"], ";".join(a["asset"] for a in r["assets"])])  # fmt: skip


@requester.command("link")
@click.argument("ref")
@click.argument("asset")
@click.option("--owns", is_flag=True, help="The person owns the asset (default: uses it).")
@click.pass_obj
def requester_link(config: AgentConfig, ref: str, asset: str, owns: bool) -> None:
    """Record that a person uses (or owns) an asset of the inventory."""
    from opsagent.store import schema

    app = App(config)
    try:
        with app.store.transaction() as conn:
            found = records.find(conn, ref)
            if found is None:
                _invalid(f"no requester {ref!r}")
            assert found is not None
            if conn.execute(schema.assets.select().where(schema.assets.c.name == asset)).first() is None:
                _invalid(f"no asset named {asset!r}")
            relation = "owns" if owns else "uses"
            records.link_assets(conn, found["id"], [asset], relation)
            app.store.audit(conn, actor(), "desk.requester.link", f"requester:{found['id']}",
                            {"asset": asset, "relation": relation})  # fmt: skip
            click.echo(tr("requester #{id} {relation} {asset}", id=found["id"], relation=tr(relation), asset=asset))
    except records.RecordError as exc:
        _invalid(str(exc))
    finally:
        app.close()


# -- organisations and contracts ----------------------------------------------------------------------
@desk.group()
def org() -> None:
    """Organisations: internal departments and external customers."""


@org.command("add")
@click.argument("name")
@click.option("--external", is_flag=True, help="An external customer (default: an internal department).")
@click.option("--notes", default="")
@click.option("--address", default="", help="Street address: the site of on-site visits.")
@click.pass_obj
def org_add(config: AgentConfig, name: str, external: bool, notes: str, address: str) -> None:
    """Add an organisation."""
    if not name.strip() or len(name) > 255:
        _invalid("name: 1–255 characters")
    _check_address(address)
    app = App(config)
    try:
        found = records.add_organisation(
            app.store, name.strip(), "external" if external else "internal", notes, actor(), address.strip()
        )
    except records.RecordError as exc:
        _invalid(str(exc))
    finally:
        app.close()
    click.echo(tr("organisation #{id}: {name} ({kind})", id=found["id"], name=found["name"], kind=found["kind"]))


def _check_address(address: str) -> None:
    if len(address) > 1000 or any(ord(c) < 32 for c in address):
        _invalid("address: up to 1000 printable characters")


@org.command("address")
@click.argument("name")
@click.argument("address")
@click.pass_obj
def org_address(config: AgentConfig, name: str, address: str) -> None:
    """Set an organisation's address (where on-site visits go)."""
    _check_address(address)
    app = App(config)
    try:
        records.set_address(app.store, name, address.strip(), actor())
    except records.RecordError as exc:
        _invalid(str(exc))
    finally:
        app.close()
    click.echo(tr("organisation {name}: address set", name=name))


@org.command("list")
@output_option
@click.pass_obj
def org_list(config: AgentConfig, output: str) -> None:
    """List organisations with their number of people."""
    app = App(config)
    try:
        rows = records.list_organisations(app.store)
    finally:
        app.close()
    if output == "json":
        print_json(_jsonable(rows))
    else:
        print_table(
            None, ["ID", "NAME", "KIND", "PEOPLE"], [[r["id"], r["name"], r["kind"], r["people"]] for r in rows]
        )


@desk.command("contracts")
@click.option("--expiring", is_flag=True, help="Contracts and warranty/maintenance periods that end soon.")
@click.option("--days", type=click.IntRange(0, 3650), help="With --expiring: within this many days "
              "(default: the largest of desk.expiry_warnings).")  # fmt: skip
@output_option
@click.pass_obj
def contracts_cmd(config: AgentConfig, expiring: bool, days: int | None, output: str) -> None:
    """Service contracts of desk/contracts.yaml: organisation, validity, calendar, targets."""
    from opsagent.desk.contracts import Contract
    from opsagent.sla.policy import load_policy

    policy = load_policy(config.roots)
    if expiring:
        _expiring(config, policy.contracts, days, output)
        return
    rows = [(n, c) for n, c in policy.contracts.items() if isinstance(c, Contract)]
    if output == "json":
        print_json({n: c.model_dump(mode="json") for n, c in rows})
        return
    print_table(
        None,
        ["CONTRACT", "ORGANISATION", "VALID", "CALENDAR", "TARGETS"],
        [[n, c.organisation, f"{c.valid_from} – {c.valid_until}", c.calendar or "",
          " ".join(f"{k}={v}" for k, v in c.targets.model_dump(exclude_none=True).items())] for n, c in rows],
    )  # fmt: skip


_KINDS = {"contract": "contract", "warranty": "warranty", "maintenance": "maintenance period"}


def _expiring(config: AgentConfig, contracts: Any, days: int | None, output: str) -> None:
    from opsagent.desk.expiry import expiring
    from opsagent.store.engine import now

    within = days if days is not None else max(config.desk.expiry_warnings or [30])
    app = App(config)
    try:
        assets = inventory_resolver(app.inventory())
    finally:
        app.close()
    items = expiring(contracts, lambda s: [a for a, _ in assets(s)], now().astimezone(config.zone).date(), within)
    if output == "json":
        print_json([i.as_dict() for i in items])
        return
    print_table(
        None,
        ["KIND", "CONTRACT", "ORGANISATION", "ASSET", "UNTIL", "DAYS LEFT"],
        [
            [tr(_KINDS[i.kind]), i.contract, i.organisation, i.asset or "", i.until.isoformat(), i.days_left]
            for i in items
        ],
    )
    click.echo(tr("{n} ending within {days} day(s)", n=len(items), days=within))


@desk.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--months", type=click.IntRange(1, 1200), help="Retention in months (default: desk.retention_months).")
@output_option
@click.pass_obj
def purge_cmd(config: AgentConfig, dry_run: bool, months: int | None, output: str) -> None:
    """Purge attachments and requesters' personal data of tickets closed more than N months ago (audited)."""
    from opsagent.desk.retention import purge_expired
    from opsagent.store.engine import now

    months = months or config.desk.retention_months
    if months is None:
        _invalid(tr("no retention set: desk.retention_months in the config, or --months"))
    assert months is not None
    app = App(config)
    try:
        result = purge_expired(app.store, now(), months, actor=actor(), dry_run=dry_run)
    finally:
        app.close()
    if output == "json":
        print_json(result.as_dict())
        return
    counts = {"tickets": len(result.tickets), "cutoff": result.cutoff.date().isoformat(),
              "attachments": result.attachments, "requesters": result.requesters, "texts": result.texts}  # fmt: skip
    if dry_run:
        click.echo(tr("would purge {tickets} ticket(s) closed before {cutoff}: {attachments} attachment(s), "
                      "{requesters} requester record(s), {texts} text field(s) to mask", **counts))  # fmt: skip
    else:
        click.echo(tr("purged {tickets} ticket(s) closed before {cutoff}: {attachments} attachment(s), "
                      "{requesters} requester record(s), {texts} text field(s) masked", **counts))  # fmt: skip


# -- the email channel --------------------------------------------------------------------------------
@desk.group()
def mail() -> None:
    """The email channel: the support mailbox of the desk_mail config section."""


@mail.command("fetch")
@click.option("--limit", type=click.IntRange(1, 100_000), help="Take at most this many new mails.")
@output_option
@click.pass_obj
def mail_fetch(config: AgentConfig, limit: int | None, output: str) -> None:
    """Poll the support mailbox once: new mails open tickets, replies thread in, queued replies are sent."""
    from opsagent.desk.mailbox import MailboxError
    from opsagent.desk.mailrun import channel

    app = App(config)
    try:
        stats = channel(app).run_once(limit)
    except MailboxError as exc:
        err_console().print(tr("error: {error}", error=exc), markup=False, highlight=False)
        raise click.exceptions.Exit(EXIT_FAILED) from None
    finally:
        app.close()
    if output == "json":
        print_json(stats.as_dict())
        return
    done = ", ".join(f"{tr(k)} {v}" for k, v in sorted(stats.outcomes.items())) or tr("nothing new")
    click.echo(
        tr(
            "mail: {new} new ({done}) · sent {sent}, not sent {failed}",
            new=stats.new,
            done=done,
            sent=stats.sent,
            failed=stats.failed,
        )
    )
