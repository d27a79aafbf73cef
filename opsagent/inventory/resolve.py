"""Pure functions over an inventory: group membership, inherited vars and collectors.

Precedence follows Ansible: the implicit ``all`` group, then groups from the outermost parent down
to the asset's own groups (siblings at one depth by name), then the asset's own vars.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from opsagent.inventory.model import Asset, CollectorSpec, Group, Inventory


class GroupIndex:
    """Parent/child relations computed once per inventory (membership queries are hot in selectors)."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.parents: dict[str, set[str]] = {name: set() for name in inventory.groups}
        for name, group in inventory.groups.items():
            for child in group.children:
                self.parents[child].add(name)
        self._ancestors = cache(self._compute_ancestors)
        self._depth = cache(self._compute_depth)

    def _compute_ancestors(self, group: str) -> frozenset[str]:
        out: set[str] = set()
        for parent in self.parents.get(group, ()):
            out.add(parent)
            out |= self._ancestors(parent)
        return frozenset(out)

    def _compute_depth(self, group: str) -> int:
        parents = self.parents.get(group, ())
        return 1 + max((self._depth(p) for p in parents), default=0)

    def groups_of(self, asset: Asset) -> frozenset[str]:
        """Every group the asset is in: its own, their ancestors, and ``all``."""
        out: set[str] = {"all"}
        for group in asset.groups:
            out.add(group)
            out |= self._ancestors(group)
        if not asset.groups:
            out.add("ungrouped")
        return frozenset(out)

    def ordered_groups(self, asset: Asset) -> list[Group]:
        """The asset's groups from lowest to highest precedence."""
        names = self.groups_of(asset) - {"all", "ungrouped"}
        ordered = sorted(names, key=lambda n: (self._depth(n), n))
        head = [self.inventory.groups["all"]] if "all" in self.inventory.groups else []
        return head + [self.inventory.groups[n] for n in ordered if n in self.inventory.groups and n != "all"]

    def effective_vars(self, asset: Asset) -> dict[str, Any]:
        """``all``, then the ``all`` vars of the import the asset came from, then its groups, then its own."""
        merged: dict[str, Any] = {}
        for group in self.ordered_groups(asset):
            merged.update(group.vars)
            if group.name == "all":
                merged.update(self.source_vars(asset))
        if "all" not in self.inventory.groups:
            merged = {**self.source_vars(asset), **merged}
        merged.update(asset.vars)
        return merged

    def source_vars(self, asset: Asset) -> dict[str, Any]:
        return self.inventory.source_vars.get(asset.source, {}) if asset.source else {}

    def effective_collectors(self, asset: Asset) -> list[CollectorSpec]:
        """The asset's own collectors, else those of its most specific group that has any."""
        if asset.collectors:
            return list(asset.collectors)
        for group in reversed(self.ordered_groups(asset)):
            if group.collectors:
                return list(group.collectors)
        return []

    def members(self, group: str) -> list[Asset]:
        return [a for a in self.inventory.assets.values() if group in self.groups_of(a)]
