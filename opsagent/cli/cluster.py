"""``opsagent cluster``: the agents sharing this store — members, leases, shard sizes; a scrape config."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from opsagent.app import App
from opsagent.cli.common import local_time, output_option, print_json, print_table
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr

WILDCARDS = ("0.0.0.0", "::", "")


@click.group()
def cluster() -> None:
    """Agents sharing one PostgreSQL store: members, leases, shards."""


def _read(config: AgentConfig) -> tuple[list[Any], list[dict[str, Any]]]:
    from opsagent.cluster import members as repo

    with App(config) as app, app.store.engine.connect() as conn:
        return repo.members(conn), repo.leases(conn)


def _when(epoch: float) -> str:
    return local_time(datetime.fromtimestamp(epoch, UTC))


@cluster.command("status")
@output_option
@click.pass_obj
def status(config: AgentConfig, output: str) -> None:
    """Members (live or not, with their lease), the leader lease and each member's shard size."""
    members, leases = _read(config)
    now = time.time()
    leader = next((lease for lease in leases if lease["name"] == "leader" and lease["lease_until"] > now), None)
    holder = leader["holder"] if leader is not None else None
    rows = [
        {
            "id": m.id, "host": m.host, "pid": m.pid, "version": m.version, "listen": m.listen, "labels": m.labels,
            "groups": list(m.groups), "live": m.lease_until > now, "leader": holder == m.id, "targets": m.targets,
            "joined_at": m.joined_at, "heartbeat_at": m.heartbeat_at, "lease_until": m.lease_until,
        }
        for m in members
    ]  # fmt: skip
    if output == "json":
        print_json({"members": rows, "leases": leases, "at": now})
        return
    print_table(
        tr("cluster members"),
        ["member", "host", "pid", "live", "leader", "targets", "labels", "lease left", "joined"],
        (
            (
                r["id"], r["host"], r["pid"], tr("yes") if r["live"] else tr("no"), "*" if r["leader"] else "",
                r["targets"], ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())),
                f"{max(0.0, r['lease_until'] - now):.1f}s", _when(r["joined_at"]),
            )
            for r in rows
        ),
    )  # fmt: skip
    if output != "tsv" and not rows:
        click.echo(tr("no agent has joined this store's cluster (clustering is on with a PostgreSQL store)"), err=True)


@cluster.command("scrape-config")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_obj
def scrape_config(config: AgentConfig, output: str) -> None:
    """A Prometheus job scraping every live member's /metrics (each serves its own shard)."""
    import yaml

    members, _leases = _read(config)
    now = time.time()
    targets = sorted({_address(m.listen, m.host) for m in members if m.lease_until > now and m.listen})
    document = {
        "scrape_configs": [
            {"job_name": "opsagent", "honor_labels": True, "static_configs": [{"targets": targets}]},
        ]
    }
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120), nl=False)


def _address(listen: str, host: str) -> str:
    address, _, port = listen.rpartition(":")
    address = host if address.strip("[]") in WILDCARDS else address
    return f"{address}:{port}"
