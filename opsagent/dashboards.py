"""Grafana dashboards shipped as content (``dashboards/*.json``): checked by ``opsagent check``.

A dashboard must be a JSON object with a ``panels`` list; every panel target that carries an
``expr`` must carry a non-empty string (the PromQL itself is Prometheus', which opsagent does not
evaluate: ``promtool`` parses it in the tests). Problems are reported as ``file:line: field: message``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opsagent.errors import ConfigError, ConfigIssue

SUFFIXES = (".json",)


def _line_of(text: str, needle: str, start: int = 0) -> int | None:
    at = text.find(needle, start)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _panel_issues(path: str, text: str, panels: list[Any], where: str) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for i, panel in enumerate(panels):
        field = f"{where}[{i}]"
        if not isinstance(panel, dict):
            issues.append(ConfigIssue(path, None, field, "a panel must be an object"))
            continue
        nested = panel.get("panels", [])
        if isinstance(nested, list):
            issues += _panel_issues(path, text, nested, f"{field}.panels")
        targets = panel.get("targets", [])
        if not isinstance(targets, list):
            issues.append(ConfigIssue(path, None, f"{field}.targets", "must be a list"))
            continue
        for j, target in enumerate(targets):
            expr = target.get("expr") if isinstance(target, dict) else None
            if isinstance(target, dict) and "expr" in target and not (isinstance(expr, str) and expr.strip()):
                title = panel.get("title")
                line = _line_of(text, json.dumps(title)) if isinstance(title, str) else None
                message = "must be a non-empty PromQL string"
                issues.append(ConfigIssue(path, line, f"{field}.targets[{j}].expr", message))
    return issues


def check_dashboard(path: Path) -> dict[str, Any]:
    """The parsed dashboard; :class:`ConfigError` with every problem found."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigIssue(name, None, "", f"not UTF-8 text: {exc.reason}")]) from None
    except json.JSONDecodeError as exc:
        raise ConfigError([ConfigIssue(name, exc.lineno, "", f"invalid JSON: {exc.msg}")]) from None
    except OSError as exc:
        raise ConfigError([ConfigIssue(name, None, "", f"cannot read: {exc.strerror}")]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("panels"), list):
        raise ConfigError([ConfigIssue(name, 1, "panels", "a Grafana dashboard is an object with a panels list")])
    issues = _panel_issues(name, text, doc["panels"], "panels")
    if issues:
        raise ConfigError(issues)
    return doc
