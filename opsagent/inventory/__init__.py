"""Asset inventory: model, selectors, importers/exporters, facts history."""

from opsagent.inventory.model import Asset, AssetKind, CollectorSpec, Group, Inventory

__all__ = ["Asset", "AssetKind", "CollectorSpec", "Group", "Inventory"]
