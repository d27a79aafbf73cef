"""``opsagent inventory list|show|import|export|history`` (信息资产统计)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opsagent.app import App, actor
from opsagent.cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    console,
    human_value,
    local_time,
    natural_key,
    output_option,
    print_json,
    print_table,
    short,
)
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.inventory.facts import unflatten
from opsagent.inventory.model import Inventory
from opsagent.inventory.resolve import GroupIndex
from opsagent.inventory.selectors import select

if TYPE_CHECKING:
    from opsagent.inventory.merge import ImportPlan


@click.group()
def inventory() -> None:
    """The asset inventory: hosts, network and security gear, storage, databases, middleware."""


def _app(config: AgentConfig) -> App:
    app = App(config)
    app.seed_if_empty()
    return app


@inventory.command("list")
@click.argument("selector", default="all")
@output_option
@click.pass_obj
def list_(config: AgentConfig, selector: str, output: str) -> None:
    """List assets matching SELECTOR (Ansible --limit style: 'web:&prod:!web03', 'kind=network', 'tag=env=prod')."""
    inv = _app(config).inventory()
    index = GroupIndex(inv)
    assets = sorted(select(inv, selector, index), key=lambda a: natural_key(a.name))
    if output == "json":
        print_json([a.model_dump(mode="json") | {"all_groups": sorted(index.groups_of(a))} for a in assets])
        return
    print_table(
        tr("{n} asset(s)", n=len(assets)),
        ["name", "kind", "address", "groups", "tags", "collectors"],
        (
            (
                a.name,
                a.kind.value,
                a.address or "",
                ",".join(a.groups),
                ",".join(f"{k}={v}" if v else k for k, v in a.tags.items()),
                ",".join(f"{s.name}/{s.interval:g}s" for s in index.effective_collectors(a)),
            )
            for a in assets
        ),
    )


@inventory.command()
@click.argument("name")
@output_option
@click.pass_obj
def show(config: AgentConfig, name: str, output: str) -> None:
    """One asset: its definition, inherited vars and current facts."""
    from opsagent.store import inventory_repo as repo  # SQLAlchemy loads with the commands that write

    app = _app(config)
    inv = app.inventory()
    asset = inv.assets.get(name)
    if asset is None:
        console().print(tr("no asset named {name}", name=repr(name)))
        raise click.exceptions.Exit(EXIT_FAILED)
    index = GroupIndex(inv)
    facts = repo.current_facts(app.store, name)
    data = asset.model_dump(mode="json") | {
        "all_groups": sorted(index.groups_of(asset)),
        "effective_vars": index.effective_vars(asset),
        "effective_collectors": [s.model_dump(mode="json") for s in index.effective_collectors(asset)],
        "facts": unflatten(facts),
    }
    if output == "json":
        print_json(data)
        return
    print_table(
        tr("asset {name}", name=name), ["field", "value"], [(k, short(v, 100)) for k, v in data.items() if k != "facts"]
    )
    print_table("facts", ["fact", "value"], [(k, short(human_value(k, v), 100)) for k, v in facts.items()])


@inventory.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["auto", "yaml", "csv", "ansible"]), default="auto", show_default=True
)
@click.option("--prune", is_flag=True, help="Remove assets previously imported from PATH that it no longer lists.")
@click.option("--dry-run", is_flag=True, help="Validate and show what would change, host by host; store nothing.")
@click.option("--force", is_flag=True, help="Take over assets and groups that another import (source) owns.")
@output_option
@click.pass_obj
def import_(config: AgentConfig, path: Path, fmt: str, prune: bool, dry_run: bool, force: bool, output: str) -> None:
    """Import our YAML, a CSV sheet, or an Ansible INI/YAML inventory (one transaction: all or nothing).

    PATH is the import's source: its assets and groups belong to it, and its `all` vars apply to its
    own assets only. Changing what another source owns is refused without --force."""
    from opsagent.collectors import options_models
    from opsagent.inventory.importers import load_inventory_file  # the importers load with `import` only
    from opsagent.store import inventory_repo as repo  # SQLAlchemy loads with the commands that write

    inv = load_inventory_file(path, None if fmt == "auto" else fmt, options_models())
    store = _app(config).store  # seeds the local host first, as every other command does
    # The absolute path is each asset's source, so a later import (and --prune) finds them again.
    plan = repo.import_inventory(
        store, inv, str(path.resolve()), prune=prune, force=force, dry_run=dry_run, actor=actor()
    )
    summary = plan.as_dict() | ({"stored": False} if dry_run else {})
    if output == "json":
        print_json(
            summary | ({"hosts": [h.as_dict() for h in plan.hosts], "conflicts": plan.conflicts} if dry_run else {})
        )
    else:
        if dry_run:
            _print_plan(plan)
        console().print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    if plan.conflicts and not force:  # only a dry run gets here with conflicts
        raise click.exceptions.Exit(EXIT_INVALID)


def _print_plan(plan: ImportPlan) -> None:
    marks = {"added": "+", "changed": "~", "removed": "-"}
    for host in plan.hosts:
        detail = f": {', '.join(host.fields)}" if host.fields else ""
        click.echo(_printable(f"{marks[host.action]} {host.name} ({host.action}){detail}"))
    for conflict in plan.conflicts:
        click.echo(_printable(f"! {conflict} (needs --force)"))


def _printable(text: str) -> str:
    """Var names come from files others wrote: no terminal control sequences."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


@inventory.command()
@click.argument("selector", default="all")
@click.option("--format", "fmt", type=click.Choice(["yaml", "ansible"]), default="yaml", show_default=True)
@click.pass_obj
def export(config: AgentConfig, selector: str, fmt: str) -> None:
    """Export assets (credential references only, never values) as our YAML or an Ansible inventory."""
    inv = _app(config).inventory()
    chosen = {a.name: a for a in select(inv, selector)}
    subset = Inventory(groups=inv.groups, assets=chosen)
    from opsagent.inventory.export import to_ansible_yaml, to_native_yaml

    sys.stdout.write(to_ansible_yaml(subset) if fmt == "ansible" else to_native_yaml(subset))


@inventory.command()
@click.argument("name")
@click.option("--key", help="Only this fact (a trailing * matches a prefix: 'os.*').")
@click.option("--limit", default=200, show_default=True)
@output_option
@click.pass_obj
def history(config: AgentConfig, name: str, key: str | None, limit: int, output: str) -> None:
    """What changed in an asset's facts, and when (newest first)."""
    from opsagent.store import inventory_repo as repo  # SQLAlchemy loads with the commands that write

    app = _app(config)
    if name not in app.inventory().assets:
        console().print(tr("no asset named {name}", name=repr(name)))
        raise click.exceptions.Exit(EXIT_FAILED)
    changes = repo.fact_history(app.store, name, key, limit)
    if output == "json":
        print_json(
            [
                {"at": c.at, "key": c.key, "change": c.kind, "old": c.old, "new": c.new, "collector": c.collector}
                for c in changes
            ]
        )
        return
    print_table(
        tr("{name}: {n} change(s)", name=name, n=len(changes)),
        ["when", "fact", "change", "old", "new", "collector"],
        (
            (
                local_time(c.at),
                c.key,
                c.kind,
                short(c.old, 40) if c.old is not None else "",
                short(c.new, 40) if c.new is not None else "",
                c.collector,
            )
            for c in changes
        ),
    )


from opsagent.cli.discover import discover as _discover  # noqa: E402  (SNMP discovery lives in its own module)

inventory.add_command(_discover)
