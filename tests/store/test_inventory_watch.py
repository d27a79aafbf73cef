"""serve's refresh jobs load the inventory again only when the store's inventory changed (loading and
validating every asset twice every 30 s was a visible share of an idle agent's CPU): any asset, group
or import-source change is seen, an unchanged inventory is not loaded."""

from __future__ import annotations

from sqlalchemy import event

from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.store import Store
from opsagent.store import inventory_repo as repo
from opsagent.store.inventory_repo import InventoryWatch


def _inventory(address: str = "10.0.0.1", env: str = "prod") -> Inventory:
    return Inventory(
        groups={"prod": Group(name="prod", vars={"env": env})},
        assets={"web01": Asset(name="web01", address=address, groups=["prod"]), "db01": Asset(name="db01")},
    )


def test_the_inventory_is_loaded_again_only_when_it_changed(store: Store) -> None:
    repo.save_inventory(store, _inventory())
    watch = InventoryWatch(store)
    loads: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "FROM assets ORDER BY assets.name" in statement:
            loads.append(statement)

    first = watch.changed()
    assert first is not None and set(first.assets) == {"web01", "db01"} and len(loads) == 1
    assert watch.changed() is None and len(loads) == 1  # unchanged: not loaded
    repo.save_inventory(store, _inventory(address="10.0.0.2"))  # an asset changed
    changed = watch.changed()
    assert changed is not None and changed.assets["web01"].address == "10.0.0.2"
    assert watch.changed() is None
    repo.save_inventory(store, _inventory(address="10.0.0.2", env="staging"))  # only a group changed
    changed = watch.changed()
    assert changed is not None and changed.groups["prod"].vars == {"env": "staging"}
    repo.delete_assets(store, ["db01"])  # an asset removed
    changed = watch.changed()
    assert changed is not None and set(changed.assets) == {"web01"}
    assert watch.changed() is None


def test_a_primed_watch_and_its_follower_do_not_load_the_start_inventory_again(store: Store) -> None:
    """serve loads the inventory once at start; its two refresh jobs (poll and backup jobs) must not load
    it again 30 s later only because their watches had no marker (1.2 s of CPU with 10,000 assets)."""
    repo.save_inventory(store, _inventory())
    watch = InventoryWatch(store)
    assert set(watch.load().assets) == {"web01", "db01"}
    follower = watch.follower()
    assert watch.changed() is None and follower.changed() is None
    repo.save_inventory(store, _inventory(address="10.0.0.2"))
    for each in (watch, follower):  # each job sees the change once
        changed = each.changed()
        assert changed is not None and changed.assets["web01"].address == "10.0.0.2"
        assert each.changed() is None
