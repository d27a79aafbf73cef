"""Collectors: one module per transport, all following :class:`opsagent.collectors.base.Collector`."""

from __future__ import annotations

from opsagent.collectors.base import Collector, CollectResult, Outcome, Sample


def available_collectors() -> dict[str, Collector]:
    """Collector instances by type name (built per App; nothing is registered at import time)."""
    from opsagent.collectors.local import LocalCollector
    from opsagent.collectors.ssh import SshCollector

    collectors: list[Collector] = [LocalCollector(), SshCollector()]
    return {c.name: c for c in collectors}


__all__ = ["CollectResult", "Collector", "Outcome", "Sample", "available_collectors"]
