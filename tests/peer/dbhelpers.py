"""Helpers for the database/middleware collector tests: poll one asset through the real Poller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsagent.collectors import CollectResult, available_collectors
from opsagent.collectors.profiles import load_profiles
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller

ROOT = Path(__file__).resolve().parents[2]


def make_poller() -> Poller:
    collectors = available_collectors()
    profiles = load_profiles([ROOT], {n: c.options_model for n, c in collectors.items()})
    return Poller(collectors, profiles, MetricsRegistry())


async def poll(asset: dict[str, Any], collector: str, **spec: Any) -> CollectResult:
    """Poll ``asset`` (Asset fields) with ``collector`` (CollectorSpec fields: timeout, options...)."""
    model = Asset.model_validate({"name": "t1", **asset})
    return await make_poller().poll(model, CollectorSpec(name=collector, **spec))


def values(result: CollectResult, name: str, **labels: str) -> list[float]:
    """Values of the samples called ``name`` whose labels include ``labels``."""
    return [s.value for s in result.samples if s.name == name and labels.items() <= dict(s.labels).items()]


def value(result: CollectResult, name: str, **labels: str) -> float:
    found = values(result, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples ({result.outcome} {result.reason} {result.message})"
    return found[0]
