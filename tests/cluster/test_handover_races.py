"""The hand-over races of cluster membership, each driven step by step: real ClusterNode objects on a
real PostgreSQL store, with a clock the test sets (each interleaving is the one an overloaded machine
produces by chance). In every state no asset is owned by two agents.

* a renewal stalled in the store until the lease it renews has run out, while another agent finds it
  expired and takes its assets: the late renewal makes it a newcomer, not an owner again;
* a newcomer settles only once every member has acted on a view that has it, not merely read one;
* a view change never leaves the ownership cache of the old members behind (a poll deciding
  while the heartbeat thread swaps the view);
* a late poll due before the agent's current ownership began is not its slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from opsagent.cluster import shard
from opsagent.cluster.config import ClusterConfig
from opsagent.cluster.node import ClusterNode
from opsagent.inventory.model import Asset
from opsagent.store import Store

pytestmark = pytest.mark.peer

ASSETS = [(Asset(name=f"h{i:02d}", kind="host"), 1) for i in range(60)]
HEARTBEAT, LEASE = 1.0, 4.0  # skew 0.5: an agent acts until 3.5 s after its last refresh began


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(pg_empty_url: str) -> Iterator[Store]:
    s = Store(pg_empty_url)
    yield s
    s.close()


def _node(store: Store, name: str, clock: Clock) -> ClusterNode:
    config = ClusterConfig(enabled=True, id=name, heartbeat=HEARTBEAT, lease=LEASE)
    node = ClusterNode(store, config, "127.0.0.1:0", lambda: ASSETS)
    node.clock = clock
    return node


def _beat(clock: Clock, *nodes: ClusterNode, step: float = HEARTBEAT) -> None:
    for node in nodes:
        node.apply(node.refresh())
    clock.now += step


def _overlap(*nodes: ClusterNode) -> list[tuple[str, list[str]]]:
    out = []
    for asset, _n in ASSETS:
        owners = [n.id for n in nodes if n.owns(asset)]
        if len(owners) > 1:
            out.append((asset.name, owners))
    return out


def _pair(store: Store, clock: Clock) -> tuple[ClusterNode, ClusterNode]:
    a, b = _node(store, "a", clock), _node(store, "b", clock)
    for _ in range(4):
        _beat(clock, a, b)
    assert a.view.settled and b.view.settled
    assert all(a.owns(x) != b.owns(x) for x, _n in ASSETS)  # split, every asset owned once
    return a, b


def _dsn(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port} user={u.username} dbname={u.database}"


def _waiting_on_lock(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
        return bool(row and row[0])


def test_a_renewal_committed_after_its_lease_ran_out_is_a_rejoin(store: Store, pg_empty_url: str) -> None:
    clock = Clock()
    a, b = _pair(store, clock)
    _beat(clock, a, b, step=0)  # a's lease now runs to clock + 4
    last = a.view.at
    clock.now = last + 2.0
    b.apply(b.refresh())  # b on time
    dsn = _dsn(pg_empty_url)
    with psycopg.connect(dsn) as blocker:
        # the store holds a's heartbeat: its row locked, as a slow or overloaded store would
        blocker.execute("SELECT id FROM cluster_members WHERE id = 'a' FOR UPDATE")
        clock.now = last + 2.9  # a's heartbeat starts late, inside its lease
        views: list[Any] = []
        beat = threading.Thread(target=lambda: views.append(a.refresh()))
        beat.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_lock(dsn) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiting_on_lock(dsn), "a's renewal did not reach the store"
        clock.now = last + 4.2  # a's lease has run out: b finds it gone and takes every asset
        b.apply(b.refresh())
        assert [m.id for m in b.view.members] == ["b"]
        assert all(b.owns(x) for x, _n in ASSETS)
        clock.now = last + 4.4
        blocker.rollback()  # a's renewal goes through, 1.5 s after its lease ended
    beat.join(30)
    a.apply(views[0])
    assert _overlap(a, b) == []  # a waits as a newcomer; b polls on until it sees a again
    assert not a.view.settled
    for _ in range(4):
        _beat(clock, b, a)
        assert _overlap(a, b) == []
    assert a.view.settled and any(a.owns(x) for x, _n in ASSETS)


def test_a_newcomer_waits_until_every_member_has_acted_on_seeing_it(store: Store) -> None:
    clock = Clock()
    a = _node(store, "a", clock)
    for _ in range(2):
        _beat(clock, a)
    assert all(a.owns(x) for x, _n in ASSETS)
    b = _node(store, "b", clock)
    _beat(clock, b)  # b registers
    read = a.refresh()  # a reads b ... and its heartbeat thread stalls before acting on it
    clock.now += 0.5
    _beat(clock, b, step=0)  # b sees a's heartbeat, which came after its registration
    assert _overlap(a, b) == []  # but a still polls by the view without b
    a.apply(read)
    clock.now += HEARTBEAT
    _beat(clock, a, step=0.5)
    _beat(clock, b, step=0)  # a's second heartbeat: a acted on the view with b
    assert b.view.settled
    assert _overlap(a, b) == [] and any(b.owns(x) for x, _n in ASSETS)


class _PollsWhileLogging(logging.Handler):
    """A poll on the event loop deciding while the heartbeat thread is inside apply() (its log line
    lets another thread run): asks the node about every asset then."""

    def __init__(self, node: ClusterNode) -> None:
        super().__init__()
        self.node = node

    def emit(self, record: logging.LogRecord) -> None:
        for asset, _n in ASSETS:
            self.node.owns(asset)


def test_a_view_change_leaves_no_stale_ownership_behind(store: Store) -> None:
    clock = Clock()
    a, b = _pair(store, clock)
    leader, other = (a, b) if a.view.leader else (b, a)
    leader._leave()  # the leader stops cleanly: the other takes the lease and every asset at once
    spy = _PollsWhileLogging(other)
    logger = logging.getLogger("opsagent.cluster.node")
    level = logger.level
    logger.addHandler(spy)
    logger.setLevel(logging.INFO)
    try:
        other.apply(other.refresh())
    finally:
        logger.removeHandler(spy)
        logger.setLevel(level)
    assert other.view.leader and [m.id for m in other.view.members] == [other.id]
    members = other.view.members
    wrong = [x.name for x, _n in ASSETS if other.owns(x) != (shard.owner(x, members) == other.id)]
    assert wrong == []


def test_a_late_poll_due_before_the_hand_over_is_not_the_new_owners(store: Store) -> None:
    clock = Clock()
    a, b = _pair(store, clock)
    moved = [x for x, _n in ASSETS if b.owns(x)]
    kept = [x for x, _n in ASSETS if a.owns(x)]
    before = clock.now - 0.5  # a slot b polled (or would have) before it left
    b._leave()  # b is gone from the store; a takes its assets at its next beat
    _beat(clock, a, step=0)
    assert all(a.owns(x) for x in moved)
    assert not any(a.owns(x, due=before) for x in moved)  # that slot was b's
    assert all(a.owns(x, due=before) for x in kept)  # a's own late polls still run
    assert all(a.owns(x, due=clock.now) for x in moved)
