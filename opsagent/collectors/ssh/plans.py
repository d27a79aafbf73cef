"""Per-poll work done once: options validated once per distinct options mapping, the shell program
built once per (options, sudo mode), and parse results kept per asset for unchanged outputs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opsagent.collectors.base import Sample
from opsagent.collectors.ssh.options import SshOptions
from opsagent.collectors.ssh.session import Plan


@dataclass
class ParseCache:
    """One asset's last parses: per check (its last output, the options it was parsed with,
    samples, facts), and the facts of the whole poll merged, keyed by the identities of the checks'
    fact dicts (unchanged outputs give the same dicts, so the merge is skipped too); for the checks
    parsed line by line, each one's memo of its lines."""

    checks: dict[str, tuple[str, SshOptions, list[Sample], dict[str, Any]]] = field(default_factory=dict)
    merged: tuple[tuple[int, ...], dict[str, Any]] | None = None
    # per check parsed line by line (ssh/incremental.py): the options and the memo of its last parse
    lines: dict[str, tuple[SshOptions, dict[Any, Any]]] = field(default_factory=dict)


def _options_key(options: Mapping[str, Any]) -> tuple[Any, ...]:
    """Cheap identity of an options mapping. The poller merges profile and asset options into a new
    dict each poll, but the values (the profile's check list above all) are the same objects, so
    containers are keyed by identity; the cache keeps them alive, so an id cannot be reused."""
    parts: list[Any] = []
    for key, value in options.items():
        if isinstance(value, str | int | float | bool) or value is None:
            parts.append((key, value))
        else:
            parts.append((key, "id", id(value)))
    return tuple(parts)


class PlanCache:
    """Validated options and shell programs, least recently used dropped past ``size`` entries."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._options: OrderedDict[tuple[Any, ...], tuple[Mapping[str, Any], SshOptions]] = OrderedDict()
        self._plans: OrderedDict[tuple[int, bool], tuple[SshOptions, Plan]] = OrderedDict()

    def options(self, raw: Mapping[str, Any]) -> SshOptions:
        key = _options_key(raw)
        hit = self._options.get(key)
        if hit is not None:
            self._options.move_to_end(key)
            return hit[1]
        options = SshOptions.model_validate(raw)
        self._options[key] = (dict(raw), options)
        if len(self._options) > self.size:
            self._options.popitem(last=False)
        return options

    def plan(self, options: SshOptions, sudo_password: bool) -> Plan:
        key = (id(options), sudo_password)
        hit = self._plans.get(key)
        if hit is not None and hit[0] is options:
            self._plans.move_to_end(key)
            return hit[1]
        check_password = sudo_password and not options.sudo and any(c.sudo for c in options.checks)
        plan = Plan(tuple(options.checks), sudo=options.sudo, check_sudo_password=check_password)
        self._plans[key] = (options, plan)
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan
