"""``opsagent poll SELECTOR``: run the collectors once and show facts and samples."""

from __future__ import annotations

import asyncio

import click

from opsagent.app import App
from opsagent.cli.common import EXIT_FAILED, console, human_value, output_option, print_json, print_table, short
from opsagent.collectors.base import CollectResult
from opsagent.config import AgentConfig
from opsagent.i18n.catalog import tr
from opsagent.inventory.facts import flatten


def _label_text(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "asset")


def _render(results: list[CollectResult], samples: bool, facts: bool) -> None:
    print_table(
        "poll results",
        ["asset", "collector", "outcome", "seconds", "facts", "samples", "reason"],
        (
            (
                r.asset,
                r.collector,
                r.outcome.value,
                f"{r.duration:.3f}",
                len(flatten(r.facts)),
                len(r.samples),
                f"{r.reason}: {r.message}" if r.reason else "",
            )
            for r in results
        ),
    )
    for r in results:
        if facts and r.facts:
            print_table(
                tr("{asset} · {collector} · facts", asset=r.asset, collector=r.collector),
                ["fact", "value"],
                ((k, short(human_value(k, v), 100)) for k, v in flatten(r.facts).items()),
            )
        if samples and r.samples:
            print_table(
                tr("{asset} · {collector} · samples", asset=r.asset, collector=r.collector),
                ["metric", "labels", "value"],
                ((s.name, _label_text(dict(s.labels)), human_value(s.name, s.value)) for s in r.samples),
            )


@click.command()
@click.argument("selector", default="all")
@click.option("-c", "--collector", help="Only this collector type (e.g. local).")
@click.option("--samples/--no-samples", default=True, show_default=True, help="Show samples (table output).")
@click.option("--facts/--no-facts", default=True, show_default=True, help="Show facts (table output).")
@click.option(
    "--record/--no-record",
    default=True,
    show_default=True,
    help="Store the facts collected (history keeps only changes).",
)
@output_option
@click.pass_obj
def poll(
    config: AgentConfig, selector: str, collector: str | None, samples: bool, facts: bool, record: bool, output: str
) -> None:
    """Poll the assets matching SELECTOR once; exit 1 if any poll failed."""
    app = App(config)
    try:
        app.seed_if_empty()
        targets = app.targets(app.inventory(), selector, collector)
        if not targets:
            console().print(tr("no collector configured on the selected assets"))
            raise click.exceptions.Exit(EXIT_FAILED)
        poller = app.poller(record=record)
        results = asyncio.run(poller.poll_many(targets))
    finally:
        app.close()
    if output == "json":
        print_json(
            [
                {
                    "asset": r.asset,
                    "collector": r.collector,
                    "outcome": r.outcome.value,
                    "reason": r.reason,
                    "message": r.message,
                    "duration": r.duration,
                    "facts": r.facts,
                    "samples": [
                        {"name": s.name, "labels": dict(s.labels), "value": s.value, "type": s.kind} for s in r.samples
                    ],
                }
                for r in results
            ]
        )
    else:
        _render(results, samples, facts)
    if not all(r.ok for r in results):
        raise click.exceptions.Exit(EXIT_FAILED)
