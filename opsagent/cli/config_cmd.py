"""``opsagent config backup|versions|diff``: device configurations over netmiko, versions and diffs."""

from __future__ import annotations

import asyncio

import click

from opsagent.app import App
from opsagent.cli.common import EXIT_FAILED, console, local_time, output_option, print_json, print_table
from opsagent.cli.params import DURATION
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.inventory.resolve import GroupIndex
from opsagent.inventory.selectors import select


@click.group("config")
def config_group() -> None:
    """Device configurations (network gear): back up over netmiko, list versions, show diffs."""


@config_group.command("backup")
@click.argument("selector", default="kind=network")
@click.option("--timeout", type=DURATION, default=30.0, show_default=True, help="Per CLI step (30s, 2m, or seconds).")
@output_option
@click.pass_obj
def backup_cmd(config: AgentConfig, selector: str, timeout: float, output: str) -> None:
    """Fetch the running configuration of the selected assets; store each changed version."""
    from opsagent.netcli.backup import backup

    app = App(config)
    try:
        inventory = app.inventory()
        assets = [a for a in select(inventory, selector, GroupIndex(inventory)) if "cli" in a.credentials]
        results = asyncio.run(backup(app.store, assets, timeout))
    finally:
        app.close()
    if output == "json":
        print_json([r.__dict__ for r in results])
    else:
        rows = [
            (r.asset, "ok" if r.ok else r.reason, r.rev or "", "changed" if r.changed else "", r.message)
            for r in results
        ]
        print_table(None, ["asset", "result", "rev", "", "message"], rows)
    if any(not r.ok for r in results) or not results:
        raise SystemExit(EXIT_FAILED)


@config_group.command("versions")
@click.argument("asset")
@output_option
@click.pass_obj
def versions_cmd(config: AgentConfig, asset: str, output: str) -> None:
    """Stored configuration versions of ASSET, newest first."""
    from opsagent.netcli.backup import versions

    app = App(config)
    try:
        rows = versions(app.store, asset)
    finally:
        app.close()
    if output == "json":
        print_json([r | {"fetched_at": r["fetched_at"].isoformat()} for r in rows])
        return
    print_table(
        None,
        ["rev", "fetched", "bytes", "sha256"],
        [(r["rev"], local_time(r["fetched_at"]), r["size"], r["sha256"][:12]) for r in rows],
    )


@config_group.command("diff")
@click.argument("asset")
@click.argument("revs", nargs=-1, type=int)
@click.pass_obj
def diff_cmd(config: AgentConfig, asset: str, revs: tuple[int, ...]) -> None:
    """Unified diff of ASSET's configuration: REV1 REV2, REV (against the latest), or the last two."""
    from opsagent.netcli.backup import version_text, versions
    from opsagent.netcli.configtext import unified

    app = App(config)
    try:
        known = [r["rev"] for r in versions(app.store, asset)]
        if len(revs) > 2:
            raise click.UsageError(tr("at most two revisions"))
        pair = list(revs) if len(revs) == 2 else [revs[0], known[0]] if revs and known else known[:2][::-1]
        if len(pair) < 2 or any(r not in known for r in pair):
            console().print(
                tr("{asset}: need two stored versions (have: {known})", asset=asset, known=known or tr("none"))
            )
            raise SystemExit(EXIT_FAILED)
        old, new = (version_text(app.store, asset, r) or "" for r in pair)
    finally:
        app.close()
    click.echo(unified(old, new, f"{asset}@{pair[0]}", f"{asset}@{pair[1]}"), nl=False)
