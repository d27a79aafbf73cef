"""``opsagent check``: validate content files without touching the store.

A file's role comes from the content folder it sits in (``inventory/``, ``collectors/<type>/``,
``alerts/``, ``runbooks/``); a file given outside those folders is recognised by its top-level keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from opsagent.alerts.notifyconfig import NOTIFY_KEYS, NotifyConfig
from opsagent.alerts.rulefile import compile_document
from opsagent.collectors.profiles import inline_option_issues, load_profile
from opsagent.dashboards import SUFFIXES as DASHBOARD_SUFFIXES
from opsagent.dashboards import check_dashboard
from opsagent.desk.check import check_desk_file
from opsagent.errors import ConfigError, ConfigIssue
from opsagent.inventory.importers.native import inventory_from_document
from opsagent.loader import parse_yaml_file, validate
from opsagent.runbooks.library import duplicate_names
from opsagent.runbooks.model import validate_runbook
from opsagent.runbooks.notify import check_receivers
from opsagent.sla.policy import POLICY_KEYS, ServiceLevelPolicy
from opsagent.traps.rules import TRAP_RULE_KEYS, check_clears
from opsagent.traps.rules import compile_document as compile_trap_rules

CONTENT_FOLDERS = ("collectors", "inventory", "alerts", "runbooks", "dashboards", "desk")
YAML_SUFFIXES = (".yaml", ".yml")


def _role(path: Path) -> str | None:
    parts = path.resolve().parts
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] in CONTENT_FOLDERS:
            return parts[index]
    return None


def _role_by_keys(path: Path) -> str:
    data: Any = parse_yaml_file(path).data
    keys = set(data) if isinstance(data, dict) else set()
    if "steps" in keys:
        return "runbooks"
    if "groups" in keys and isinstance(data.get("groups"), list):
        return "alerts"
    if keys & TRAP_RULE_KEYS:
        return "alerts"  # SNMP trap rules
    if "targets" in keys and keys & POLICY_KEYS:
        return "alerts"  # the service-level policy
    if keys & {"assets", "groups"}:
        return "inventory"
    if "panels" in keys:
        return "dashboards"  # a Grafana dashboard (JSON is YAML)
    raise ConfigError(
        [
            ConfigIssue(
                str(path),
                1,
                "",
                "not recognised as opsagent content (inventory, collector profile, rule file or runbook)",
            )
        ]
    )


def check_file(
    path: Path, options_models: dict[str, type[BaseModel]], receivers: Collection[str] | None = None
) -> None:
    """Raise :class:`ConfigError` with every issue of the file. ``receivers``: the notification
    receivers runbook ``notify`` steps may name (None: not checked)."""
    role = _role(path) or _role_by_keys(path)
    checkers: dict[str, Callable[[], object]] = {
        "inventory": lambda: _check_inventory(path, options_models),
        "collectors": lambda: load_profile(path, options_models),
        "alerts": lambda: _check_alerts_file(path),
        "runbooks": lambda: _check_runbook(path, receivers),
        "dashboards": lambda: check_dashboard(path),
        "desk": lambda: check_desk_file(path),
    }
    checkers[role]()


def _check_inventory(path: Path, options_models: dict[str, type[BaseModel]]) -> object:
    doc = parse_yaml_file(path)
    inventory = inventory_from_document(doc)
    issues = inline_option_issues(doc, options_models)
    if issues:
        raise ConfigError(issues)
    return inventory


def _check_runbook(path: Path, receivers: Collection[str] | None) -> object:
    doc = parse_yaml_file(path)
    runbook = validate_runbook(doc)
    issues = check_receivers(doc, receivers) if receivers is not None else []
    if issues:
        raise ConfigError(issues)
    return runbook


def _check_alerts_file(path: Path) -> object:
    """alerts/ holds rule files and the notification config (recognised by its top-level keys)."""
    doc = parse_yaml_file(path)
    if isinstance(doc.data, dict) and set(doc.data) & NOTIFY_KEYS:
        return validate(doc, NotifyConfig)
    if isinstance(doc.data, dict) and "targets" in doc.data and set(doc.data) & POLICY_KEYS:
        return validate(doc, ServiceLevelPolicy)
    if isinstance(doc.data, dict) and set(doc.data) & TRAP_RULE_KEYS:
        rules = compile_trap_rules(doc)
        issues = check_clears(rules)  # within the file; serve checks across every root
        if issues:
            raise ConfigError(issues)
        return rules
    return compile_document(doc)


def content_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if (
                    p.suffix in YAML_SUFFIXES
                    or (p.suffix in DASHBOARD_SUFFIXES and _role(p) == "dashboards")
                    or (p.suffix == ".j2" and _role(p) == "desk")
                )  # requester-facing mail templates
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            files.append(path)
    return files


def check_paths(
    paths: Iterable[Path], options_models: dict[str, type[BaseModel]], receivers: Collection[str] | None = None
) -> tuple[int, list[ConfigIssue]]:
    """(files checked, every issue found). Missing paths are issues too."""
    files = content_files(paths)
    issues: list[ConfigIssue] = []
    for path in files:
        if not path.exists():
            issues.append(ConfigIssue(str(path), None, "", "no such file or directory"))
            continue
        try:
            check_file(path, options_models, receivers)
        except ConfigError as exc:
            issues += exc.issues
    issues += duplicate_names(files)  # two runbooks of one folder with the same name
    return len(files), issues


def default_check_paths(roots: Iterable[Path]) -> list[Path]:
    return [root / folder for root in roots for folder in CONTENT_FOLDERS if (root / folder).is_dir()]
