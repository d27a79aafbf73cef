"""The PromQL of the shipped Grafana dashboards (``dashboards/*.json``), with Grafana's variables
replaced by values, so tests can parse it (promtool) and run it (a real Prometheus)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
# Grafana's built-in interval variables, as Grafana fills them for a 1 h view.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}|\[\[(\w+)\]\]")
_LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str


def load(name: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads((DASHBOARDS / name).read_text())
    return doc


def panel_queries(name: str) -> Iterator[Query]:
    """Every target expression of every panel (rows' nested panels included)."""
    doc = load(name)
    stack = list(doc.get("panels", []))  # type: ignore[call-overload]
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield Query(name, panel["title"], target["expr"])


def variable_selectors(name: str) -> Iterator[Query]:
    """The series selector inside each ``label_values(selector, label)`` variable query."""
    doc = load(name)
    for var in doc["templating"]["list"]:  # type: ignore[index]
        if var["type"] != "query":
            continue
        definition = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = _LABEL_VALUES.match(definition.strip())
        assert match is not None, f"{name}: variable {var['name']}: not label_values(...): {definition}"
        yield Query(name, f"variable {var['name']}", match["selector"] or "up")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with ``$var``/``${var}``/``[[var]]`` replaced from ``values`` and :data:`BUILTINS`."""

    def one(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return {**BUILTINS, **values}[name]

    return _VARIABLE.sub(one, expr)
