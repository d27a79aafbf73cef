"""Collectors: one module per transport, all following :class:`opsagent.collectors.base.Collector`."""

from __future__ import annotations

from pydantic import BaseModel

from opsagent.collectors.base import Collector, CollectResult, Outcome, Sample


def available_collectors() -> dict[str, Collector]:
    """Collector instances by type name (built per App; nothing is registered at import time)."""
    from opsagent.collectors.local import LocalCollector
    from opsagent.collectors.mysql import MySQLCollector
    from opsagent.collectors.nginx import NginxCollector
    from opsagent.collectors.postgres import PostgresCollector
    from opsagent.collectors.probe import ProbeCollector
    from opsagent.collectors.redis import RedisCollector
    from opsagent.collectors.snmp import SnmpCollector
    from opsagent.collectors.ssh import SshCollector

    collectors: list[Collector] = [LocalCollector(), SshCollector()]
    collectors += [PostgresCollector(), MySQLCollector(), RedisCollector(), NginxCollector(), ProbeCollector()]
    collectors += [SnmpCollector()]
    return {c.name: c for c in collectors}


def options_models() -> dict[str, type[BaseModel]]:
    """Each collector type's options model: what profiles and per-asset options are checked with."""
    return {name: c.options_model for name, c in available_collectors().items()}


__all__ = ["CollectResult", "Collector", "Outcome", "Sample", "available_collectors", "options_models"]
