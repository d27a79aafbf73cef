"""Rendezvous hashing and pinning, as pure functions."""

from __future__ import annotations

from opsagent.cluster.members import Member
from opsagent.cluster.shard import owner, sizes
from opsagent.inventory.model import Asset


def _assets(n: int, **extra: object) -> list[Asset]:
    return [Asset(name=f"h{i}", kind="host", **extra) for i in range(n)]  # type: ignore[arg-type]


def test_every_asset_has_one_owner_and_only_a_leaving_members_assets_move() -> None:
    members = [Member(f"a{k}") for k in range(4)]
    assets = _assets(1000)
    before = {a.name: owner(a, members) for a in assets}
    counts = sizes(((a, 1) for a in assets), members, "site")
    assert sum(counts.values()) == 1000 and min(counts.values()) > 150  # an even enough split
    after = {a.name: owner(a, members[:3]) for a in assets}
    moved = {n for n in before if before[n] != after[n]}
    assert moved == {n for n, o in before.items() if o == "a3"}  # only a3's assets, none of the others'
    joined = {a.name: owner(a, [*members, Member("a4")]) for a in assets}
    assert {n for n in before if before[n] != joined[n]} == {n for n, o in joined.items() if o == "a4"}


def test_pinning_by_group_and_site_falls_back_when_no_pinned_agent_lives() -> None:
    sh = Member("sh1", labels={"site": "shanghai"})
    bj = Member("bj1", groups=("beijing",))
    other = Member("any1")
    shanghai = Asset(name="db-sh", kind="host", tags={"site": "shanghai"})
    beijing = Asset(name="db-bj", kind="host", groups=["beijing"])
    assert owner(shanghai, [sh, bj, other]) == "sh1"
    assert owner(beijing, [sh, bj, other]) == "bj1"
    assert owner(shanghai, [bj, other]) in {"bj1", "any1"}  # no Shanghai agent alive: never orphaned
    assert owner(shanghai, []) is None
