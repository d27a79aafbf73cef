"""Importing into a store that other imports share: what changes, host by host, and who owns what.

Every import has a *source* (the absolute path it was read from). Assets and groups belong to the
source that brought them; an import's ``all`` vars become that source's own (``Inventory.source_vars``)
and apply to its assets only, so a second inventory's ``all: {vars: {env: staging}}`` never reaches
the hosts of the first. An import that would take over an asset or change a group owned by another
source is refused unless forced. A group an import only names on its hosts (no body of its own)
joins the existing group and changes nothing.

Pure functions over :class:`Inventory` values; the store applies the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from opsagent.errors import UsageError
from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.inventory.resolve import GroupIndex

_ASSET_FIELDS = ("kind", "address", "port", "description", "groups", "tags", "vars", "credentials", "collectors")
_KEYED_FIELDS = frozenset({"tags", "vars", "credentials"})  # reported key by key: vars.env, not just vars


@dataclass
class HostChange:
    name: str
    action: str  # added | changed | removed
    fields: list[str] = field(default_factory=list)  # own fields, and "effective vars.KEY" for inherited ones

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "fields": self.fields}


@dataclass
class ImportPlan:
    """The inventory after the import, and how it differs from the one before."""

    source: str
    after: Inventory
    hosts: list[HostChange] = field(default_factory=list)
    unchanged: int = 0
    groups: list[str] = field(default_factory=list)  # groups the import writes (added or changed)
    conflicts: list[str] = field(default_factory=list)
    write_assets: list[str] = field(default_factory=list)  # incoming assets that differ from the store
    removed: list[str] = field(default_factory=list)
    incoming: set[str] = field(default_factory=set)

    def names(self, action: str) -> list[str]:
        return [h.name for h in self.hosts if h.action == action]

    def as_dict(self) -> dict[str, Any]:
        changed = self.names("changed")
        return {
            "added": len(self.names("added")),
            "updated": sum(1 for n in changed if n in self.incoming),
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "groups": len(self.groups),
            "others_affected": sum(1 for n in changed if n not in self.incoming),  # by inherited vars
        }


def _is_empty(group: Group) -> bool:
    return not (group.vars or group.children or group.collectors or group.description)


def _group_body(group: Group) -> dict[str, Any]:
    return group.model_dump(mode="json", exclude={"name", "source"})


def _claimable(owner: str | None, source: str) -> bool:
    """Rows from before sources were kept (None) are claimed by whoever imports them next."""
    return owner is None or owner == source


def _merge_groups(current: Inventory, incoming: Inventory, plan: ImportPlan) -> dict[str, Group]:
    groups = dict(current.groups)
    for name, group in incoming.groups.items():
        before = current.groups.get(name)
        if before is not None and _is_empty(group) and before.source != plan.source:
            continue  # only named on hosts of this import: they join the group as it is
        if before is not None and _group_body(before) == _group_body(group):
            continue
        if before is not None and not _claimable(before.source, plan.source):
            plan.conflicts.append(
                f"group {name!r} belongs to {before.source}; this import would change its "
                + ", ".join(_changed_fields(_group_body(before), _group_body(group)))
            )
        groups[name] = group.model_copy(update={"source": plan.source})
        plan.groups.append(name)
    return groups


def _take_all_vars(incoming: Inventory) -> tuple[Inventory, dict[str, Any]]:
    """The vars of the import's ``all`` group become its source vars. ``all`` itself is the site's:
    its collectors or description, if the import sets any, are owned like any other group's, and
    its children (every group is in ``all``) mean nothing."""
    all_group = incoming.groups.get("all")
    if all_group is None:
        return incoming, {}
    groups = {n: g for n, g in incoming.groups.items() if n != "all"}
    rest = all_group.model_copy(update={"vars": {}, "children": []})
    if not _is_empty(rest):
        groups["all"] = rest
    return incoming.model_copy(update={"groups": groups}), dict(all_group.vars)


def plan_import(current: Inventory, incoming: Inventory, source: str, *, prune: bool = False) -> ImportPlan:
    """What importing ``incoming`` from ``source`` into ``current`` would do (nothing is changed)."""
    incoming, own_vars = _take_all_vars(incoming)
    if "all" in incoming.groups and "all" in current.groups:  # the site-wide vars stay as they are
        incoming.groups["all"] = incoming.groups["all"].model_copy(update={"vars": current.groups["all"].vars})
    plan = ImportPlan(source, current, incoming=set(incoming.assets))
    groups = _merge_groups(current, incoming, plan)
    assets = dict(current.assets)
    for name, asset in incoming.assets.items():
        before = current.assets.get(name)
        if before is not None and not _claimable(before.source, source):
            plan.conflicts.append(f"asset {name!r} belongs to {before.source}")
        new = asset.model_copy(update={"source": source})
        if before is None or before != new:
            plan.write_assets.append(name)
        assets[name] = new
    if prune:
        plan.removed = [n for n, a in current.assets.items() if a.source == source and n not in incoming.assets]
        for name in plan.removed:
            del assets[name]
    source_vars = {k: v for k, v in current.source_vars.items() if k != source}
    if own_vars:
        source_vars[source] = own_vars
    try:
        plan.after = Inventory(groups=groups, assets=assets, source_vars=source_vars)
    except ValidationError as exc:  # e.g. a group cycle across two imports
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False))
        raise UsageError(f"importing {source} would make the stored inventory invalid: {reasons}") from None
    _diff_hosts(current, plan)
    return plan


def _changed_fields(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in _KEYED_FIELDS and isinstance(old, dict) and isinstance(new, dict) and not prefix:
            out += _changed_fields(old, new, f"{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _asset_fields(asset: Asset) -> dict[str, Any]:
    data = asset.model_dump(mode="json")
    return {k: data[k] for k in _ASSET_FIELDS}


def _diff_hosts(current: Inventory, plan: ImportPlan) -> None:
    """Every host whose own fields or effective vars change, including hosts of other sources that
    inherit from a group this import changes."""
    before_index, after_index = GroupIndex(current), GroupIndex(plan.after)
    for name in sorted(set(current.assets) | set(plan.after.assets)):
        old, new = current.assets.get(name), plan.after.assets.get(name)
        if old is None:
            plan.hosts.append(HostChange(name, "added"))
            continue
        if new is None:
            plan.hosts.append(HostChange(name, "removed"))
            continue
        fields = _changed_fields(_asset_fields(old), _asset_fields(new))
        if old.source != new.source:
            fields.append(f"source ({old.source} -> {new.source})")
        inherited = _changed_fields(before_index.effective_vars(old), after_index.effective_vars(new))
        fields += [f"effective vars.{k}" for k in inherited if f"vars.{k}" not in fields]
        if fields:
            plan.hosts.append(HostChange(name, "changed", fields))
        elif name in plan.incoming:
            plan.unchanged += 1
