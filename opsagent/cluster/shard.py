"""Which live agent polls an asset: rendezvous (highest random weight) hashing, as pure functions.

Every agent computes the same owner from the same member list, with no coordination; when a member
comes or goes only the assets it wins or held move (1/N of them), never the rest. The unit is the
asset, with all its collectors: rules over several series of one asset (``up`` of its SNMP and ping
checks, a parent's ``suppresses_dependents``) keep evaluating inside one agent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from opsagent.cluster.members import Member
from opsagent.inventory.model import Asset


def weight(member_id: str, key: str) -> int:
    digest = hashlib.blake2b(f"{member_id}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def candidates(asset: Asset, members: Sequence[Member], pin_label: str | None) -> Sequence[Member]:
    """The members pinned to the asset (by inventory group, else by the pin label: site) if one is live;
    else every member, so no asset is ever left unpolled."""
    groups = set(asset.groups)
    pinned = [m for m in members if groups.intersection(m.groups)]
    if not pinned and pin_label and asset.tags.get(pin_label):
        pinned = [m for m in members if m.labels.get(pin_label) == asset.tags[pin_label]]
    return pinned or members


def owner(asset: Asset, members: Sequence[Member], pin_label: str | None = "site") -> str | None:
    among = candidates(asset, members, pin_label)
    if not among:
        return None
    return max(among, key=lambda m: weight(m.id, asset.name)).id


def sizes(assets: Iterable[tuple[Asset, int]], members: Sequence[Member], pin_label: str | None) -> dict[str, int]:
    """Targets per member: (asset, its target count) pairs summed by owner."""
    out = {m.id: 0 for m in members}
    for asset, count in assets:
        who = owner(asset, members, pin_label)
        if who is not None:
            out[who] += count
    return out
