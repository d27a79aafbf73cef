"""``opsagent prometheus scrape-config``: a ready Prometheus scrape configuration for the inventory."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import click
import yaml

from opsagent.app import App
from opsagent.config import AgentConfig, parse_listen
from opsagent.scrapeconfig import Job, file_sd_targets, jobs_for, scrape_configs
from opsagent.units import parse_duration

WILDCARDS = ("0.0.0.0", "::", "")


@click.group()
def prometheus() -> None:
    """Prometheus integration: scrape configuration for the agent and its assets."""


def _agent_address(config: AgentConfig, given: str | None) -> str:
    """HOST:PORT Prometheus reaches the agent at: ``--agent``, else the listen address (a
    wildcard listen address becomes this host's name)."""
    if given:
        try:
            parse_listen(given)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--agent") from None
        return given
    host, port = config.listen_address
    host = socket.gethostname() if host in WILDCARDS else host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _write_atomically(path: Path, text: str) -> None:
    """Prometheus watches file_sd files: it must never read a half-written one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _write_file_sd(directory: Path, jobs: list[Job]) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for job in jobs:
        path = directory.resolve() / f"opsagent-{job.name}.json"
        _write_atomically(path, json.dumps(file_sd_targets(job), indent=2) + "\n")
        files[job.name] = str(path)
    return files


@prometheus.command("scrape-config")
@click.argument("selector", default="all")
@click.option("--agent", help="HOST:PORT Prometheus scrapes the agent at (default: the listen address).")
@click.option("--interval", help="Scrape interval of every job, e.g. 30s (default: each job's shortest poll interval).")
@click.option(
    "--file-sd",
    "file_sd",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write each job's targets to DIR/opsagent-JOB.json (file_sd) and refer to them.",
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_obj
def scrape_config(
    config: AgentConfig, selector: str, agent: str | None, interval: str | None, file_sd: Path | None, output: str
) -> None:
    """Print `scrape_configs` for the assets of SELECTOR (default: all): a job per collector kind
    (node, snmp, postgres, mysql, redis, nginx, blackbox) scraping /metrics?target=ASSET with
    instance = the asset, and a job `opsagent` for the agent's own series."""
    try:
        every = parse_duration(interval) if interval else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    address = _agent_address(config, agent)
    with App(config) as app:
        app.seed_if_empty()
        targets = app.targets(app.inventory(), selector)
    jobs = jobs_for((asset.name, spec.name, spec.interval) for asset, spec, _vars in targets)
    files = _write_file_sd(file_sd, jobs) if file_sd is not None else None
    document: dict[str, Any] = {"scrape_configs": scrape_configs(jobs, address, interval=every, file_sd=files)}
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120), nl=False)
