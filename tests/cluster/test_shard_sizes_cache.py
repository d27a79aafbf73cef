"""/metrics shard sizes: hashed once per membership (or inventory) change, not on every scrape.
Two cluster members on a real PostgreSQL store; the hash function is counted, not replaced."""

from __future__ import annotations

from typing import Any

import pytest

from opsagent.cluster import shard
from opsagent.cluster.config import ClusterConfig
from opsagent.cluster.node import ClusterNode
from opsagent.inventory.model import Asset
from opsagent.store import Store

pytestmark = pytest.mark.peer


@pytest.fixture
def store(pg_empty_url: str) -> Any:
    s = Store(pg_empty_url)
    yield s
    s.close()


def _sizes(node: ClusterNode) -> dict[str, float]:
    [targets] = [m for m in node.collect() if m.name == "opsagent_cluster_targets"]
    return {s.labels["agent"]: s.value for s in targets.samples}


def test_shard_sizes_are_cached_per_membership_and_inventory(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory: list[tuple[Asset, int]] = [(Asset(name=f"h{i}", kind="host"), 2) for i in range(500)]
    hashed = [0]
    real = shard.weight

    def counted(member_id: str, key: str) -> int:
        hashed[0] += 1
        return real(member_id, key)

    monkeypatch.setattr(shard, "weight", counted)
    config = {"enabled": True, "heartbeat": 1, "lease": 30}
    a1 = ClusterNode(store, ClusterConfig(id="a1", **config), "127.0.0.1:0", lambda: inventory)
    a1.apply(a1.refresh())
    a2 = ClusterNode(store, ClusterConfig(id="a2", **config), "127.0.0.1:0", lambda: inventory)
    a2.apply(a2.refresh())
    a1.apply(a1.refresh())  # a1 sees both
    before = hashed[0]
    first = _sizes(a1)
    assert sum(first.values()) == 1000 and set(first) == {"a1", "a2"}
    assert hashed[0] - before == 1000  # 500 assets × 2 members, once
    for _scrape in range(20):
        assert _sizes(a1) == first
    assert hashed[0] - before == 1000  # twenty scrapes later: not one hash more
    a1.apply(a1.refresh())  # a heartbeat with the same members: still cached
    before = hashed[0]
    assert _sizes(a1) == first and hashed[0] == before
    inventory.append((Asset(name="new", kind="host"), 1))  # the inventory changed: recomputed
    assert sum(_sizes(a1).values()) == 1001
    a3 = ClusterNode(store, ClusterConfig(id="a3", **config), "127.0.0.1:0", lambda: inventory)
    a3.apply(a3.refresh())
    a1.apply(a1.refresh())  # a member joined: recomputed over three
    third = _sizes(a1)
    assert set(third) == {"a1", "a2", "a3"} and sum(third.values()) == 1001
