"""``opsagent inventory discover --snmp CIDR|RANGE``: responders become assets with their identification."""

from __future__ import annotations

from typing import Any

import click

from opsagent.app import App, actor
from opsagent.cli.common import EXIT_INVALID, console, output_option, print_json, print_table
from opsagent.cli.params import DURATION
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.inventory.facts import flatten
from opsagent.inventory.model import Inventory
from opsagent.secrets import is_reference


def _refs(values: tuple[str, ...], what: str) -> None:
    for value in values:
        if value and not is_reference(value):
            raise click.UsageError(tr("{what}: plain-text secrets are refused; use env:NAME or file:PATH", what=what))


def _candidates(communities: tuple[str, ...], v3: dict[str, Any]) -> list[Any]:
    from opsagent.collectors.snmp.discover import Candidate

    out = [Candidate({"community": c}) for c in communities]
    if v3.get("user"):
        out.append(Candidate({k: v for k, v in v3.items() if v}, version="3"))
    return out


@click.command("discover")
@click.option("--snmp", "targets", multiple=True, required=True, help="CIDR, range (10.0.0.5-10.0.0.20 or -20), or IP.")
@click.option("--community", "communities", multiple=True, help="v2c community reference (env:/file:); repeatable.")
@click.option("--v3-user", help="SNMPv3 user name.")
@click.option("--auth-protocol", default="SHA", show_default=True)
@click.option("--auth-password", help="SNMPv3 auth password reference (env:/file:).")
@click.option("--priv-protocol", default="AES", show_default=True)
@click.option("--priv-password", help="SNMPv3 privacy password reference (env:/file:).")
@click.option("--port", default=161, show_default=True, type=click.IntRange(1, 65535))
@click.option("--timeout", type=DURATION, default=1.0, show_default=True, help="Per request (500ms, 2s, or seconds).")
@click.option("--retries", default=1, show_default=True, type=click.IntRange(0, 10))
@click.option("--concurrency", default=256, show_default=True, type=click.IntRange(1, 4096))
@click.option("--group", "groups", multiple=True, help="Put discovered assets in this group; repeatable.")
@click.option("--dry-run", is_flag=True, help="Show what answered; store nothing.")
@output_option
@click.pass_obj
def discover(config: AgentConfig, /, targets: tuple[str, ...], communities: tuple[str, ...], **kw: Any) -> None:
    """Probe addresses over SNMP; add responders as network/storage/host assets with their identification."""
    from opsagent.collectors.snmp.discover import discover as run
    from opsagent.collectors.snmp.discover import expand

    _refs(communities, "--community")
    _refs((kw["auth_password"] or "", kw["priv_password"] or ""), "--auth/priv-password")
    try:
        addresses = list(dict.fromkeys(a for t in targets for a in expand(t)))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    v3 = {"user": kw["v3_user"], "auth_protocol": kw["auth_protocol"], "auth_password": kw["auth_password"]}
    v3 |= {"priv_protocol": kw["priv_protocol"] if kw["priv_password"] else None, "priv_password": kw["priv_password"]}
    candidates = _candidates(communities, v3)
    if not candidates:
        raise click.UsageError(tr("give --community and/or --v3-user"))
    import asyncio  # only discovery runs a loop: `inventory list` should not pay for asyncio

    found = asyncio.run(
        run(
            addresses,
            candidates,
            port=kw["port"],
            timeout=kw["timeout"],
            retries=kw["retries"],
            concurrency=kw["concurrency"],
            groups=list(kw["groups"]),
        )
    )
    rows = _store(config, found, kw["dry_run"])
    if kw["output"] == "json":
        print_json({"probed": len(addresses), "found": rows})
    else:
        print_table(None, ["asset", "address", "kind", "vendor", "model", "status"], [list(r.values()) for r in rows])
        console().print(tr("probed {n} addresses, {answered} answered", n=len(addresses), answered=len(found)))
    if not found:
        raise SystemExit(1 if addresses else EXIT_INVALID)


def _address_key(address: str) -> tuple[int, ...]:
    return tuple(int(p) for p in address.split(".")) if address.count(".") == 3 else (0,)


def _store(config: AgentConfig, found: list[Any], dry_run: bool) -> list[dict[str, Any]]:
    """Add new responders (an address already in the inventory stays as it is) and their facts."""
    from opsagent.store import inventory_repo as repo  # SQLAlchemy loads with the commands that write

    app = App(config)
    try:
        app.seed_if_empty()
        current = app.inventory()
        known = {a.address: a.name for a in current.assets.values() if a.address}
        names = set(current.assets)
        new: dict[str, Any] = {}
        rows: list[dict[str, Any]] = []
        added: list[tuple[str, dict[str, Any]]] = []
        for f in sorted(found, key=lambda f: _address_key(f.address)):
            asset, status = f.asset, ("known" if f.address in known else "added")
            if status == "added":
                if asset.name in names:  # two devices with one sysName: keep both
                    asset = asset.model_copy(update={"name": f"{asset.name}-{f.address}"})
                names.add(asset.name)
                new[asset.name] = asset
                added.append((asset.name, f.facts))
            row = {"asset": known.get(f.address, asset.name), "address": f.address, "kind": asset.kind.value}
            rows.append(
                row | {"vendor": f.facts.get("vendor", ""), "model": f.facts.get("model", ""), "status": status}
            )
        if not dry_run and new:
            repo.save_inventory(app.store, Inventory(assets=new), actor=actor())
            for name, facts in added:
                if facts:
                    repo.record_facts(app.store, name, "snmp", flatten(facts))
        return rows
    finally:
        app.close()
