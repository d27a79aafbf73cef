"""Building the alert engine for ``serve`` from the content roots, the store and the inventory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsagent.alerts.engine import AlertEngine
from opsagent.alerts.notify.formats import Style
from opsagent.alerts.notifyconfig import load_notify_config
from opsagent.alerts.rulefile import load_rules
from opsagent.alerts.silences import parents_from_vars
from opsagent.app import App
from opsagent.inventory.model import Inventory
from opsagent.inventory.resolve import GroupIndex


def parents_of(inventory: Inventory) -> dict[str, list[str]]:
    """Asset → the assets it sits behind, from ``parents``/``depends_on`` vars (inherited from groups too)."""
    index = GroupIndex(inventory)
    pairs: list[tuple[str, Mapping[str, Any]]] = [(a.name, index.effective_vars(a)) for a in inventory.assets.values()]
    return parents_from_vars(pairs)


class EngineCollector:
    """prometheus-client custom collector for the engine's self-metrics."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine

    def collect(self) -> Any:
        return self.engine.collect()


def build_engine(app: App, inventory: Inventory) -> tuple[AlertEngine, dict[str, list[str]]]:
    """Invalid rules or alerting config raise ConfigError (the daemon refuses to start).

    Returns the engine and the (mutable) parents map the caller refreshes with the inventory.
    """
    rules = load_rules(app.config.roots, recording=True)
    config = load_notify_config(app.config.roots)
    parents = parents_of(inventory)
    engine = AlertEngine(app.store, app.metrics.history, rules, config, parents=lambda: parents)
    engine.dispatcher.style = message_style(app)  # notifications in the agent's language and zone
    return engine, parents


def message_style(app: App) -> Style:
    return Style(app.config.lang, app.config.zone)
