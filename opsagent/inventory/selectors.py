"""Ansible ``--limit``-style selectors over the inventory.

``web:&prod:!web03`` — union of plain terms, then intersection with ``&`` terms, then removal of
``!`` terms (Ansible's order, whatever order they are written in). Terms: a group or asset name,
``all``/``*``, a glob (``web*``, ``db-[ab]*``), a regex (``~web\\d+``), or a key test: ``kind=network``,
``tag=env`` / ``tag=env=prod``, ``group=web``, ``name=web*``, ``address=10.0.*``. A plain name that
is neither a group nor an asset is an error, never an empty match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fnmatch import fnmatchcase

from opsagent.errors import SelectorError
from opsagent.inventory.model import Asset, AssetKind, Inventory
from opsagent.inventory.resolve import GroupIndex

_GLOB_CHARS = set("*?[")
Predicate = Callable[[Asset], bool]


def split_terms(pattern: str) -> list[str]:
    separator = "," if "," in pattern else ":"
    terms = [t.strip() for t in pattern.split(separator)]
    return [t for t in terms if t]


def _key_term(key: str, value: str, index: GroupIndex) -> Predicate:
    if key == "kind":
        kinds = {k.value for k in AssetKind}
        if value not in kinds:
            raise SelectorError(f"unknown kind {value!r} in selector (one of: {', '.join(sorted(kinds))})")
        return lambda a: a.kind.value == value
    if key == "tag":
        tag, has_value, tag_value = value.partition("=")
        if has_value:
            return lambda a: tag in a.tags and fnmatchcase(a.tags[tag], tag_value)
        return lambda a: tag in a.tags
    if key == "group":
        return lambda a: any(fnmatchcase(g, value) for g in index.groups_of(a))
    if key == "name":
        return lambda a: fnmatchcase(a.name, value)
    if key == "address":
        return lambda a: a.address is not None and fnmatchcase(a.address, value)
    if key == "collector":  # e.g. runbooks for every PostgreSQL server: targets: collector=postgres
        return lambda a: any(fnmatchcase(s.name, value) for s in index.effective_collectors(a))
    raise SelectorError(f"unknown selector key {key!r} (use kind=, tag=, group=, name=, address= or collector=)")


def _term(term: str, inventory: Inventory, index: GroupIndex) -> Predicate:
    if term in ("all", "*"):
        return lambda a: True
    if term == "ungrouped" and term not in inventory.groups:  # Ansible's implicit group
        return lambda a: not a.groups
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise SelectorError(f"invalid regex in selector term {term!r}: {exc}") from None
        return lambda a: regex.search(a.name) is not None
    key, is_key, value = term.partition("=")
    if is_key:
        return _key_term(key, value, index)
    if _GLOB_CHARS & set(term):
        groups = [g for g in inventory.groups if fnmatchcase(g, term)]
        return lambda a: fnmatchcase(a.name, term) or any(g in index.groups_of(a) for g in groups)
    if term in inventory.groups:
        return lambda a: term in index.groups_of(a)
    if term in inventory.assets:
        return lambda a: a.name == term
    # Addresses are accepted too, as Ansible accepts ansible_host values on the command line.
    if any(a.address == term for a in inventory.assets.values()):
        return lambda a: a.address == term
    raise SelectorError(f"selector term {term!r} matches no group or asset name")


def select(inventory: Inventory, pattern: str, index: GroupIndex | None = None) -> list[Asset]:
    """Assets matching ``pattern``, in inventory order."""
    index = index or GroupIndex(inventory)
    terms = split_terms(pattern)
    if not terms:
        raise SelectorError("empty selector")
    union: list[Predicate] = []
    both: list[Predicate] = []
    without: list[Predicate] = []
    for raw in terms:
        bucket, term = (both, raw[1:]) if raw[0] == "&" else (without, raw[1:]) if raw[0] == "!" else (union, raw)
        if not term:
            raise SelectorError(f"selector term {raw!r} is missing a name")
        bucket.append(_term(term, inventory, index))
    if not union:  # "!web03" alone means "all but web03", as in Ansible
        union.append(lambda a: True)
    return [
        asset
        for asset in inventory.assets.values()
        if any(p(asset) for p in union) and all(p(asset) for p in both) and not any(p(asset) for p in without)
    ]
