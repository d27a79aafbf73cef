"""The ``opsagent`` command. One module per noun; each renders results, the core never prints.

Exit codes scripts can trust: 0 success · 1 some targets failed / not found · 2 invalid input
(content, selector, arguments) · 3 store unavailable.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from opsagent import __version__
from opsagent.cli.common import EXIT_INVALID, EXIT_STORE, err_console
from opsagent.config import load_config
from opsagent.errors import ConfigError, OpsAgentError, SecretError, SelectorError, StoreError, UsageError


class _Main(click.Group):
    """Turns our errors into a message and an exit code instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for issue in exc.issues:
                err_console().print(str(issue), markup=False, highlight=False)
            ctx.exit(EXIT_INVALID)
        except (SelectorError, SecretError, UsageError) as exc:
            err_console().print(f"error: {exc}", markup=False, highlight=False)
            ctx.exit(EXIT_INVALID)
        except StoreError as exc:
            err_console().print(f"store error: {exc}", markup=False, highlight=False)
            ctx.exit(EXIT_STORE)
        except OpsAgentError as exc:
            err_console().print(f"error: {exc}", markup=False, highlight=False)
            ctx.exit(1)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opsagent")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Agent config file (default: $OPSAGENT_CONFIG or $OPSAGENT_HOME/opsagent.yaml if present).",
)
@click.option(
    "--store",
    help="Store URL, e.g. sqlite:////var/lib/opsagent.db or postgresql+psycopg://… "
    "(default: $OPSAGENT_STORE, else SQLite in $OPSAGENT_HOME).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, store: str | None, verbose: int) -> None:
    """opsagent — inventory, collectors, /metrics, alerts, incidents and runbooks for ops teams."""
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        ctx.obj = load_config(config_path, overrides={"store": store})
    except ValidationError as exc:
        raise ConfigError([_flag_issue(e) for e in exc.errors(include_url=False)]) from None


def _flag_issue(error: Any) -> Any:
    from opsagent.errors import ConfigIssue

    return ConfigIssue("<settings>", None, ".".join(map(str, error["loc"])), error["msg"])


def _register() -> None:
    from opsagent.cli import alert, check, incident, inventory, poll, serve
    from opsagent.cli import runbook as runbook_cli
    from opsagent.cli import service as service_cli  # adds service-level commands to `incident`

    cli.add_command(check.check)
    cli.add_command(inventory.inventory)
    cli.add_command(poll.poll)
    cli.add_command(serve.serve)
    cli.add_command(incident.incident)
    cli.add_command(alert.alert)
    cli.add_command(service_cli.report)
    cli.add_command(runbook_cli.runbook)

    from opsagent.cli import config_cmd, events

    cli.add_command(events.events)
    cli.add_command(config_cmd.config_group)


_register()


def main() -> None:
    cli(prog_name="opsagent")


__all__ = ["SelectorError", "cli", "main"]
