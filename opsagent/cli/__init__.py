"""The ``opsagent`` command. One module per noun; each renders results, the core never prints.

Exit codes scripts can trust: 0 success · 1 some targets failed / not found · 2 invalid input
(content, selector, arguments) · 3 store unavailable.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

# pydantic looks for plugins in every installed distribution's entry points when the first model is
# built (≈80 ms of importlib.metadata per command); opsagent uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from opsagent import __version__
from opsagent.cli.common import EXIT_INVALID, EXIT_STORE, err_console
from opsagent.errors import ConfigError, OpsAgentError, SecretError, SelectorError, StoreError, UsageError
from opsagent.i18n import apply_process_zone
from opsagent.i18n.catalog import tr


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
            err_console().print(tr("error: {error}", error=exc), markup=False, highlight=False)
            ctx.exit(EXIT_INVALID)
        except StoreError as exc:
            err_console().print(tr("store error: {error}", error=exc), markup=False, highlight=False)
            ctx.exit(EXIT_STORE)
        except OpsAgentError as exc:
            err_console().print(tr("error: {error}", error=exc), markup=False, highlight=False)
            ctx.exit(1)


# name → (module, attribute, one-line help). A command's module (and what it imports: SQLAlchemy,
# aiohttp, paramiko, numpy…) loads only when that command runs, so `opsagent --help` and small
# commands start fast; the help lines here are what `--help` lists without importing anything.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("opsagent.cli.check", "check", "Validate content files (default: every content folder)."),
    "inventory": ("opsagent.cli.inventory", "inventory", "The asset inventory: list, show, import, export, history."),
    "poll": ("opsagent.cli.poll", "poll", "Poll the assets matching SELECTOR once."),
    "serve": ("opsagent.cli.serve", "serve", "Run the agent: scheduled polls, alerts, /metrics, the JSON API."),
    "incident": ("opsagent.cli.service", "incident", "Incidents: list, show and work on them; SLA, on-call."),
    "alert": ("opsagent.cli.alert", "alert", "Alert rules, states, silences and maintenance windows."),
    "report": ("opsagent.cli.service", "report", "Repair service reports and period statistics."),
    "runbook": ("opsagent.cli.runbook", "runbook", "YAML runbooks: inspections (巡检), emergency procedures (应急)."),
    "events": ("opsagent.cli.events", "events", "SNMP traps and informs received by `opsagent serve`."),
    "config": ("opsagent.cli.config_cmd", "config_group", "Device configurations: back up, versions, diffs."),
    "prometheus": ("opsagent.cli.prometheus", "prometheus", "Prometheus scrape configs for the inventory."),
    "desk": ("opsagent.cli.desk", "desk", "Service desk: log calls as tickets; requester records, contracts."),
    "user": ("opsagent.cli.user", "user", "Users of the console and API: add, roles, passwords, tokens."),
    "audit": ("opsagent.cli.user", "audit", "The audit log: who changed what, when, from where."),
    "kb": ("opsagent.cli.kb", "kb", "Knowledge base (知识库): search, articles, import/export, from incidents."),
    "problem": ("opsagent.cli.problem", "problem", "Problem records (问题管理): recurring tickets, root cause, fix."),
    "visit": ("opsagent.cli.visit", "visit", "On-site visits (现场服务): plan, approval, notes, sign-off, report."),
    "cluster": ("opsagent.cli.cluster", "cluster", "Agents sharing one PostgreSQL store: members, leases, shards."),
}


class _Lazy(_Main):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute, _help = COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        rows += [(n, c.get_short_help_str()) for n, c in sorted(self.commands.items()) if n not in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_Lazy, context_settings={"help_option_names": ["-h", "--help"]})
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
    from pydantic import ValidationError  # here, not at import: `--help` needs neither pydantic nor YAML

    from opsagent.config import load_config

    try:
        ctx.obj = load_config(config_path, overrides={"store": store})
    except ValidationError as exc:
        raise ConfigError([_flag_issue(e) for e in exc.errors(include_url=False)]) from None
    apply_process_zone(ctx.obj.timezone)  # every time the CLI shows is in the configured zone
    from opsagent.store.origin import AUDIT_ORIGIN, cli_origin

    AUDIT_ORIGIN.set(cli_origin())  # every audit row this command writes says where it came from


def _flag_issue(error: Any) -> Any:
    from opsagent.errors import ConfigIssue

    return ConfigIssue("<settings>", None, ".".join(map(str, error["loc"])), error["msg"])


def main() -> None:
    cli(prog_name="opsagent")


__all__ = ["SelectorError", "cli", "main"]
