"""Pure trap routing: a received trap + its asset → the alerts its rules fire or clear."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opsagent.inventory.facts import split_key
from opsagent.traps import names
from opsagent.traps.receiver import TrapEvent
from opsagent.traps.rules import TrapRule


@dataclass(frozen=True)
class TrapAction:
    """``firing``: open or repeat onto the incident of exactly these labels. ``resolved``: resolve
    every active alert named ``labels['alertname']`` whose labels include all of ``labels``."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    resolve_after: float | None = None
    rule: str = ""


def interface_index(flat: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """ifIndex → {ifName, ifAlias, ifDescr} from an asset's stored (flattened) identification facts,
    ``[device.]interfaces.<name>.<attr>``; a dot in a name is escaped in the key
    (:func:`opsagent.inventory.facts.split_key`), and an unescaped one is still read from both ends."""
    rows: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        parts = split_key(key)
        if "interfaces" not in parts:
            continue
        start = parts.index("interfaces") + 1
        name, attr = ".".join(parts[start:-1]), parts[-1]
        if name and len(parts) - start >= 2:
            rows.setdefault(name, {})[attr] = value
    out: dict[str, dict[str, str]] = {}
    for name, info in rows.items():
        if info.get("index") is not None:
            out[str(info["index"])] = {
                "ifName": name,
                "ifAlias": str(info.get("alias") or ""),
                "ifDescr": str(info.get("descr") or ""),
            }
    return out


def trap_context(
    event: TrapEvent, asset: str | None, interfaces: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, str]:
    """The names a rule's matchers and templates see (documented in :mod:`opsagent.traps.rules`)."""
    context = {
        "asset": asset or "",
        "source": event.source,
        "trap": names.full_name(event.trap_oid).split("::")[-1] or event.trap_name or event.trap_oid,
        "trap_oid": event.trap_oid,
    }
    for bind in event.varbinds:
        name, oid, value = bind.get("name", ""), bind.get("oid", ""), bind.get("value", "")
        base, dot, suffix = name.partition(".")
        if name == oid or not base:  # unresolved: by OID (the numeric name itself)
            context.setdefault(oid, value)
            continue
        context.setdefault(base, value)
        if dot and suffix and suffix != "0":  # scalars (sysUpTime.0) are no row of a table
            context.setdefault("index", suffix)
    index = context.get("ifIndex") or context.get("index", "")
    for key, value in (interfaces or {}).get(index, {}).items():
        if value:
            context.setdefault(key, value)
    return context


def actions_for(rules: list[TrapRule], context: Mapping[str, str]) -> list[TrapAction]:
    """Every matching rule's action; an empty list means the trap stays an event only."""
    actions: list[TrapAction] = []
    for rule in rules:
        if not rule.matches(context):
            continue
        labels = rule.render_labels(context)
        if context.get("asset"):
            labels["asset"] = context["asset"]
        else:
            labels["instance"] = context.get("source", "")  # an unknown sender: keyed by its address
        if rule.clears:
            actions.append(TrapAction("resolved", labels | {"alertname": rule.clears}, rule=rule.where))
            continue
        assert rule.alert is not None
        labels["alertname"] = rule.alert
        annotations = {k: t.render({**context, **labels}, 0.0) for k, t in rule.annotations.items()}
        actions.append(TrapAction("firing", labels, annotations, rule.resolve_after, rule.where))
    return actions
