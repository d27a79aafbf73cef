"""``opsagent check [PATH…]``: validate content like ``promtool check rules``; never touches the store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from opsagent.cli.common import EXIT_INVALID, console, err_console
from opsagent.collectors import options_models
from opsagent.config import AgentConfig
from opsagent.content import check_paths, default_check_paths
from opsagent.i18n.catalog import tr
from opsagent.runbooks.notify import known_receivers
from opsagent.sla.policy import calendar_warnings, policy_path


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def check(config: AgentConfig, paths: tuple[Path, ...]) -> None:
    """Validate content files (default: every content folder); exit 2 if any is invalid."""
    models = options_models()
    targets = list(paths) or default_check_paths(config.roots)
    # Runbook notify steps may only name receivers of the notifications.yaml in effect.
    count, issues = check_paths(targets, models, known_receivers(config.roots))
    for issue in issues:
        err_console().print(str(issue), markup=False, highlight=False)
    if not issues and _checks_policy(config, targets):
        for warning in calendar_warnings(config.roots, date.today()):
            err_console().print(tr("warning: {warning}", warning=warning), markup=False, highlight=False)
    bad_files = len({i.path for i in issues})
    if issues:
        console().print(
            tr(
                "{count} file(s) checked, {bad} invalid, {problems} problem(s)",
                count=count,
                bad=bad_files,
                problems=len(issues),
            )
        )
        raise click.exceptions.Exit(EXIT_INVALID)
    console().print(tr("{count} file(s) checked, all valid", count=count))


def _checks_policy(config: AgentConfig, targets: list[Path]) -> bool:
    """Whether the service-level policy in effect is among the files checked."""
    path = policy_path(config.roots)
    if path is None:
        return False
    policy = path.resolve()
    return any(policy == t.resolve() or t.resolve() in policy.parents for t in targets)
