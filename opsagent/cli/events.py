"""``opsagent events``: received events (SNMP traps and informs), newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from opsagent.app import App
from opsagent.cli.common import local_time, output_option, print_json, print_table, short
from opsagent.cli.params import DURATION
from opsagent.config import AgentConfig


@click.command()
@click.option("--asset", help="Only events of this asset.")
@click.option("--since", type=DURATION, help="Only events newer than this duration, e.g. 1h, 2d.")
@click.option("-n", "--limit", type=int, default=100, show_default=True)
@output_option
@click.pass_obj
def events(config: AgentConfig, asset: str | None, since: float | None, limit: int, output: str) -> None:
    """List SNMP traps and informs received by `opsagent serve` (configure `traps:` in the agent config)."""
    from opsagent.traps.repo import list_events

    after = datetime.now(UTC) - timedelta(seconds=since) if since else None
    app = App(config)
    try:
        rows = list_events(app.store, asset, after, limit)
    finally:
        app.close()
    if output == "json":
        print_json([r | {"received_at": r["received_at"].isoformat()} for r in rows])
        return
    print_table(
        None,
        ["#", "received", "kind", "source", "asset", "trap", "varbinds"],
        (
            (
                r["id"],
                local_time(r["received_at"]),
                r["kind"],
                r["source"],
                r["asset"] or "",
                r["name"],
                short(", ".join(f"{v['name']}={v['value']}" for v in r["detail"].get("varbinds", [])), 80),
            )
            for r in rows
        ),
    )
