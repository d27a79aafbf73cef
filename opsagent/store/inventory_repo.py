"""Inventory and facts in the store. Each public function is one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from opsagent.errors import UsageError
from opsagent.inventory.facts import FactChange, diff
from opsagent.inventory.merge import ImportPlan, plan_import
from opsagent.inventory.model import Asset, Group, Inventory
from opsagent.store import schema
from opsagent.store.engine import Store, as_utc, now

_ASSET_FIELDS = (
    "kind",
    "address",
    "port",
    "description",
    "groups",
    "tags",
    "vars",
    "credentials",
    "collectors",
    "source",
)


@dataclass
class ImportSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    groups: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "groups": self.groups,
        }


def _asset_row(asset: Asset) -> dict[str, Any]:
    data = asset.model_dump(mode="json")
    return {k: data[k] for k in _ASSET_FIELDS}


def _save_groups(conn: Connection, groups: Iterable[Group]) -> None:
    existing = set(conn.execute(select(schema.groups.c.name)).scalars())
    rows = [g.model_dump(mode="json") for g in groups]
    new = [r for r in rows if r["name"] not in existing]
    old = [r | {"b_name": r["name"]} for r in rows if r["name"] in existing]
    if new:
        conn.execute(insert(schema.groups), new)
    if old:
        stmt = update(schema.groups).where(schema.groups.c.name == bindparam("b_name"))
        conn.execute(
            stmt.values(
                description=bindparam("description"),
                children=bindparam("children"),
                vars=bindparam("vars"),
                collectors=bindparam("collectors"),
                source=bindparam("source"),
            ),
            old,
        )


def save_inventory(
    store: Store, inventory: Inventory, *, prune_source: str | None = None, actor: str = "opsagent"
) -> ImportSummary:
    """Upsert every group and asset in one transaction (a failure leaves the store as it was).

    With ``prune_source``, assets previously imported from that source and absent now are removed.
    """
    summary = ImportSummary(groups=len(inventory.groups))
    stamp = now()
    with store.transaction() as conn:
        _save_groups(conn, inventory.groups.values())
        cols = [
            schema.assets.c.id,
            schema.assets.c.name,
            schema.assets.c.source,
            *(schema.assets.c[f] for f in _ASSET_FIELDS if f != "source"),
        ]
        current = {row.name: row._mapping for row in conn.execute(select(*cols))}
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        for asset in inventory.assets.values():
            row = _asset_row(asset)
            before = current.get(asset.name)
            if before is None:
                new_rows.append(row | {"name": asset.name, "created_at": stamp, "updated_at": stamp})
                summary.added.append(asset.name)
            elif any(before[k] != row[k] for k in _ASSET_FIELDS):
                changed_rows.append(row | {"b_id": before["id"], "updated_at": stamp})
                summary.updated.append(asset.name)
            else:
                summary.unchanged += 1
        if new_rows:
            conn.execute(insert(schema.assets), new_rows)
        if changed_rows:
            values: dict[str, Any] = {k: bindparam(k) for k in (*_ASSET_FIELDS, "updated_at")}
            conn.execute(
                update(schema.assets).where(schema.assets.c.id == bindparam("b_id")).values(values), changed_rows
            )
        if prune_source is not None:
            gone = [n for n, r in current.items() if r["source"] == prune_source and n not in inventory.assets]
            if gone:
                conn.execute(delete(schema.assets).where(schema.assets.c.name.in_(gone)))
            summary.removed = gone
        store.audit(conn, actor, "inventory.import", prune_source or "", summary.as_dict())
    return summary


def load_inventory(store: Store) -> Inventory:
    with store.engine.connect() as conn:
        return _load(conn)


def inventory_marker(store: Store) -> tuple[Any, ...]:
    """Changes whenever the stored inventory does: assets (count, newest id, latest update: every write of
    an asset sets ``updated_at``), import sources (count, latest update) and the groups' rows, which are
    few. A fraction of ``load_inventory``'s cost (it validates every asset)."""
    a, src = schema.assets.c, schema.inventory_sources.c
    with store.engine.connect() as conn:
        assets = tuple(conn.execute(select(func.count(), func.max(a.id), func.max(a.updated_at))).one())
        sources = tuple(conn.execute(select(func.count(), func.max(src.updated_at))).one())
        groups = [tuple(r) for r in conn.execute(select(schema.groups).order_by(schema.groups.c.name))]
    return assets, sources, groups


class InventoryWatch:
    """The stored inventory, loaded again only when its marker moved (serve's refresh jobs ask every 30 s)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._marker: tuple[Any, ...] | None = None

    def load(self) -> Inventory:
        """The inventory now; ``changed`` reports only what changes after it."""
        marker = inventory_marker(self.store)  # read first: a change made meanwhile is seen next time
        inventory = load_inventory(self.store)
        self._marker = marker
        return inventory

    def changed(self) -> Inventory | None:
        """The inventory when it changed since the last load (always on the first call), else None."""
        if self._marker is not None and inventory_marker(self.store) == self._marker:
            return None
        return self.load()

    def follower(self) -> InventoryWatch:
        """A second watch that has seen what this one has (each refresh job keeps its own)."""
        other = InventoryWatch(self.store)
        other._marker = self._marker
        return other


def _load(conn: Connection) -> Inventory:
    groups = {r.name: Group.model_validate(dict(r._mapping)) for r in conn.execute(select(schema.groups))}
    cols = [schema.assets.c.name, *(schema.assets.c[f] for f in _ASSET_FIELDS)]
    assets = {
        r.name: Asset.model_validate(dict(r._mapping))
        for r in conn.execute(select(*cols).order_by(schema.assets.c.name))
    }
    src = schema.inventory_sources
    source_vars = {r.source: r.vars for r in conn.execute(select(src.c.source, src.c.vars))}
    return Inventory(groups=groups, assets=assets, source_vars=source_vars)


def _asset_query() -> Any:
    return select(schema.assets.c.name, *(schema.assets.c[f] for f in _ASSET_FIELDS))


def get_asset(store: Store, name: str) -> Asset | None:
    """One asset by name, read alone (a page about one asset need not load the whole inventory)."""
    with store.engine.connect() as conn:
        row = conn.execute(_asset_query().where(schema.assets.c.name == name)).first()
    return Asset.model_validate(dict(row._mapping)) if row is not None else None


def find_assets(store: Store, text: str = "", limit: int = 500, after: str | None = None) -> tuple[list[Asset], bool]:
    """Assets by name whose name or address contains ``text`` (any case), at most ``limit`` of them, those
    named after ``after`` (the last of the previous page: a page is one walk of the name index, and an
    asset added or removed meanwhile shifts no other); and whether there were more."""
    a = schema.assets.c
    query = _asset_query().order_by(a.name).limit(limit + 1)
    if after is not None:
        query = query.where(a.name > after)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            func.lower(a.name).like(pattern, escape="\\") | func.lower(a.address).like(pattern, escape="\\")
        )
    with store.engine.connect() as conn:
        found = [Asset.model_validate(dict(r._mapping)) for r in conn.execute(query)]
    return found[:limit], len(found) > limit


class ImportConflict(UsageError):
    """The import would take over assets or change groups that another import owns."""

    def __init__(self, plan: ImportPlan) -> None:
        self.plan = plan
        lines = "\n".join(f"  {c}" for c in plan.conflicts)
        super().__init__(
            f"importing {plan.source} would change what other imports own:\n{lines}\n"
            "nothing was stored; see `inventory import --dry-run`, and use --force to take them over"
        )


def import_inventory(
    store: Store,
    incoming: Inventory,
    source: str,
    *,
    prune: bool = False,
    force: bool = False,
    dry_run: bool = False,
    actor: str = "opsagent",
) -> ImportPlan:
    """Import ``incoming`` as the inventory of ``source`` (see :mod:`opsagent.inventory.merge`), in one
    transaction. A conflict with another source raises :class:`ImportConflict` unless ``force``;
    ``dry_run`` returns the plan (conflicts included) and stores nothing."""
    with store.transaction() as conn:
        plan = plan_import(_load(conn), incoming, source, prune=prune)
        if dry_run:
            return plan
        if plan.conflicts and not force:
            raise ImportConflict(plan)
        after = plan.after
        _save_groups(conn, [after.groups[n] for n in plan.groups])
        _save_source_vars(conn, source, after.source_vars.get(source))
        current = {r.name: r.id for r in conn.execute(select(schema.assets.c.id, schema.assets.c.name))}
        stamp = now()
        rows = [_asset_row(after.assets[n]) | {"name": n, "updated_at": stamp} for n in plan.write_assets]
        if new := [r | {"created_at": stamp} for r in rows if r["name"] not in current]:
            conn.execute(insert(schema.assets), new)
        if old := [r | {"b_id": current[r["name"]]} for r in rows if r["name"] in current]:
            values: dict[str, Any] = {k: bindparam(k) for k in (*_ASSET_FIELDS, "updated_at")}
            conn.execute(update(schema.assets).where(schema.assets.c.id == bindparam("b_id")).values(values), old)
        if plan.removed:
            conn.execute(delete(schema.assets).where(schema.assets.c.name.in_(plan.removed)))
        detail = plan.as_dict() | {"forced": sorted(plan.conflicts)} if force and plan.conflicts else plan.as_dict()
        store.audit(conn, actor, "inventory.import", source[:255], detail)
    return plan


def _save_source_vars(conn: Connection, source: str, values: dict[str, Any] | None) -> None:
    src = schema.inventory_sources
    conn.execute(delete(src).where(src.c.source == source))
    if values:
        conn.execute(insert(src), [{"source": source, "vars": values, "updated_at": now()}])


def asset_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.assets)).scalar_one())


def delete_assets(store: Store, names: list[str], actor: str = "opsagent") -> int:
    with store.transaction() as conn:
        result = conn.execute(delete(schema.assets).where(schema.assets.c.name.in_(names)))
        store.audit(conn, actor, "inventory.delete", ",".join(names)[:255], {"count": result.rowcount})
        return int(result.rowcount)


def _asset_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(schema.assets.c.id).where(schema.assets.c.name == name)).scalar_one_or_none()


def record_facts(
    store: Store, asset: str, collector: str, flat: dict[str, Any], at: datetime | None = None
) -> list[FactChange]:
    """Store a collector's facts for an asset; history gets only what changed."""
    stamp = at or now()
    with store.transaction() as conn:
        asset_id = _asset_id(conn, asset)
        if asset_id is None:
            return []  # asset removed from the inventory while it was being polled
        f = schema.facts
        old = {
            r.key: r.value
            for r in conn.execute(
                select(f.c.key, f.c.value).where(f.c.asset_id == asset_id, f.c.collector == collector)
            )
        }
        changes = diff(old, flat)
        if not changes:
            return []
        conn.execute(
            insert(schema.fact_history),
            [
                {
                    "asset_id": asset_id,
                    "key": k,
                    "old_value": o,
                    "new_value": n,
                    "collector": collector,
                    "changed_at": stamp,
                }
                for k, o, n in changes
            ],
        )
        gone = [k for k, _, n in changes if n is None and k not in flat]
        if gone:
            conn.execute(delete(f).where(f.c.asset_id == asset_id, f.c.key.in_(gone)))
        upserts = [
            {"asset_id": asset_id, "key": k, "value": n, "collector": collector, "updated_at": stamp}
            for k, _, n in changes
            if k in flat
        ]
        present = set(old)
        if inserts := [u for u in upserts if u["key"] not in present]:
            conn.execute(insert(f), inserts)
        if updates := [u | {"b_key": u["key"]} for u in upserts if u["key"] in present]:
            conn.execute(
                update(f)
                .where(f.c.asset_id == asset_id, f.c.key == bindparam("b_key"))
                .values(value=bindparam("value"), updated_at=bindparam("updated_at")),
                updates,
            )
    return [FactChange(asset, k, o, n, collector, stamp) for k, o, n in changes]


def current_facts(store: Store, asset: str) -> dict[str, Any]:
    f, a = schema.facts, schema.assets
    query = select(f.c.key, f.c.value).join(a, a.c.id == f.c.asset_id).where(a.c.name == asset)
    with store.engine.connect() as conn:
        return {r.key: r.value for r in conn.execute(query.order_by(f.c.key))}


def fact_history(store: Store, asset: str, key: str | None = None, limit: int = 500) -> list[FactChange]:
    """Newest first. ``key`` may end in ``*`` to match a prefix (``os.*``); a dot inside a name is
    escaped in keys (``interfaces.ge-0/0/0\\.0.*``, see :mod:`opsagent.inventory.facts`). The prefix
    is literal: ``%``, ``_`` and backslashes in it match only themselves (on SQLite and PostgreSQL)."""
    h, a = schema.fact_history, schema.assets
    query = select(h, a.c.name).join(a, a.c.id == h.c.asset_id).where(a.c.name == asset)
    if key:
        query = query.where(h.c.key.startswith(key[:-1], autoescape=True) if key.endswith("*") else h.c.key == key)
    query = query.order_by(h.c.changed_at.desc(), h.c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        return [
            FactChange(r.name, r.key, r.old_value, r.new_value, r.collector, as_utc(r.changed_at))
            for r in conn.execute(query)
        ]
