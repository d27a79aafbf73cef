"""This agent as a cluster member: heartbeats, the leader lease, and which assets it polls.

Safety rules (why no target is polled by two agents in one interval, and no leader job runs twice):

* An agent acts (polls, runs leader jobs) only while its own view is fresh: less than ``lease - skew``
  since the start of its last successful refresh. The others count it dead only ``lease`` after that
  start, so a frozen or cut-off agent stops before anyone takes its work; after a resume it re-joins.
* Ownership is rendezvous hashing over the live members (:mod:`opsagent.cluster.shard`). A member that
  left stops counting at once; a joining member takes its share only once *settled*: every other live
  member has refreshed since its registration committed (so they saw it and dropped that share), or a
  whole lease has passed. Hand-overs leave a gap of at most a heartbeat, never an overlap.
* Every target keeps its phase in its interval on every agent (a hash of the target), so an old and a
  new owner poll it a whole interval apart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from sqlalchemy import Connection, select

from opsagent import __version__
from opsagent.cluster import members as repo
from opsagent.cluster import shard
from opsagent.cluster.config import ClusterConfig
from opsagent.cluster.members import LEADER, Member
from opsagent.errors import OpsAgentError
from opsagent.inventory.model import Asset
from opsagent.store import Store, schema

log = logging.getLogger(__name__)


class NotLeader(OpsAgentError):
    """This agent no longer holds the leader lease: its leader-only write is refused."""


@dataclass
class View:
    """What the last refresh learnt."""

    at: float = 0.0  # start of the last successful refresh (this clock)
    members: list[Member] = field(default_factory=list)  # live ones, this agent included
    leader: bool = False
    settled: bool = False
    committed: float = 0.0  # when this agent's (re)joining registration was committed


class Node:
    """Alone (SQLite, or ``cluster.enabled: false``): owns every target and is always the leader."""

    enabled = False
    id = "local"

    def owns(self, asset: Asset) -> bool:
        return True

    def owns_name(self, asset: str) -> bool:
        return True

    def is_leader(self) -> bool:
        return True

    def fence(self, conn: Connection) -> None:
        """Inside a leader-only write's transaction: NotLeader if the lease is gone."""

    def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def collect(self) -> Iterator[Metric]:
        return iter(())


class ClusterNode(Node):
    enabled = True

    def __init__(
        self, store: Store, config: ClusterConfig, listen: str, targets: Callable[[], Sequence[tuple[Asset, int]]]
    ) -> None:
        self.store = store
        self.config = config
        self.id = config.id or f"{socket.gethostname()}:{listen.rpartition(':')[2]}"
        self.me = Member(
            self.id, socket.gethostname(), os.getpid(), __version__, listen, dict(config.labels), tuple(config.groups)
        )
        self.skew = min(1.0, config.heartbeat / 2)
        self.view = View()
        self.targets = targets  # (asset, its target count) of the inventory, for shard sizes
        self.handover_at = 0.0  # last time the member set changed (as this agent saw it)
        self.handovers = 0
        self._ids: frozenset[str] = frozenset()
        self._owners: dict[str, bool] = {}
        self._assets: dict[str, Asset] = {}
        self._halt = threading.Event()
        self._beating: threading.Thread | None = None
        self.refresh_failures = 0
        self.writes = 0  # store statements this agent's membership wrote (heartbeats, leases)
        self._sizes: tuple[object, dict[str, int]] | None = None  # (members and targets, shard sizes)

    # -- decisions (called on the event loop, cheap) ---------------------------------------------
    def fresh(self, now: float | None = None) -> bool:
        return (now or time.time()) < self.view.at + self.config.lease - self.skew

    def owns(self, asset: Asset) -> bool:
        if not self.view.settled or not self.fresh():
            return False
        cached = self._owners.get(asset.name)
        if cached is None:
            cached = self._owners[asset.name] = shard.owner(asset, self.view.members, self.config.pin_label) == self.id
        return cached

    def owns_name(self, asset: str) -> bool:
        """By asset name (the alert engine's view); an asset not in the inventory is nobody's but ours."""
        known = self._assets.get(asset)
        return True if known is None else self.owns(known)

    def is_leader(self) -> bool:
        return self.view.leader and self.fresh()

    def fence(self, conn: Connection) -> None:
        c = schema.cluster_leases.c
        held = conn.execute(
            select(c.name)
            .where(c.name == LEADER, c.holder == self.id, c.lease_until > time.time() + self.skew)
            .with_for_update()
        ).first()
        if held is None or not self.fresh():
            raise NotLeader(f"agent {self.id} no longer holds the leader lease")

    # -- the heartbeat --------------------------------------------------------------------------
    def refresh(self) -> View:
        """One heartbeat (in a worker thread): renew, take or keep the leader lease, read the members."""
        started = time.time()
        lease = self.config.lease
        assets = self.targets()
        self._assets = {a.name: a for a, _n in assets}
        mine = sum(n for a, n in assets if self.owns(a))
        with self.store.transaction() as conn:
            kept = repo.renew(conn, self.me, started, lease, mine)
            leader = repo.acquire(conn, LEADER, self.id, started, lease)
            live = [m for m in repo.members(conn) if m.lease_until > started]
        self.writes += 2
        view = View(started, live, leader, self.view.settled and kept, self.view.committed)
        if not kept:
            view.committed = time.time()  # a (re)join: settle anew
            late = f", {started - self.view.at:.1f}s after its last heartbeat" if self.view.at else ""
            log.info("cluster: agent %s joined (%d live members%s)", self.id, len(live), late)
        if not view.settled:
            others = [m for m in live if m.id != self.id]
            view.settled = all(m.heartbeat_at > view.committed + self.skew for m in others) or (
                started >= view.committed + lease
            )
        return view

    def apply(self, view: View) -> None:
        ids = frozenset(m.id for m in view.members)
        if ids != self._ids or view.settled != self.view.settled:
            if self._ids and ids != self._ids:
                self.handover_at = view.at
                self.handovers += 1
                log.info("cluster: members now %s", ", ".join(sorted(ids)))
            self._owners = {}
        if view.leader and not self.view.leader:
            log.info("cluster: agent %s is the leader", self.id)
        self._ids = ids
        self.view = view

    def start(self) -> None:
        """Heartbeats on a thread of their own, from now until :meth:`close`: neither a busy event loop
        nor a pool full of stuck polls delays them (a frozen process — SIGSTOP — stops them, as it should)."""
        self._beating = threading.Thread(target=self._beat, args=(self._halt,), name="opsagent-cluster", daemon=True)
        self._beating.start()

    def _beat(self, halt: threading.Event) -> None:
        while not halt.is_set():
            try:
                self.apply(self.refresh())
            except Exception as exc:  # store down: stop acting once the view is stale, keep trying
                self.refresh_failures += 1
                log.warning("cluster heartbeat failed: %s", exc)
            halt.wait(self.config.heartbeat)

    async def close(self) -> None:
        """A clean stop: leave at once, so the others take this agent's targets without waiting."""
        self._halt.set()
        if self._beating is not None:
            await asyncio.to_thread(self._beating.join, 10)
        try:
            await asyncio.to_thread(self._leave)
        except Exception as exc:
            log.warning("cluster: could not leave: %s", exc)

    def _leave(self) -> None:
        with self.store.transaction() as conn:
            repo.release(conn, LEADER, self.id)
            repo.leave(conn, self.id, self.me.pid)

    def shard_sizes(self) -> dict[str, int]:
        """Targets per live member, recomputed only when the members or the inventory's targets change
        (a scrape is not a reason to hash every asset against every member again)."""
        members = self.view.members
        assets = self.targets()
        pin = self.config.pin_label
        key = (
            tuple(sorted((m.id, tuple(m.groups), m.labels.get(pin or "")) for m in members)),
            tuple((a.name, n, tuple(a.groups), a.tags.get(pin or "")) for a, n in assets),
        )
        if self._sizes is None or self._sizes[0] != key:
            self._sizes = (key, shard.sizes(assets, members, pin) if members else {})
        return self._sizes[1]

    # -- /metrics ------------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        labels = {"agent": self.id}
        members = Metric(
            "opsagent_cluster_members", "Live agents sharing this store, as this agent sees them.", "gauge"
        )
        members.add_sample("opsagent_cluster_members", labels, float(len(self.view.members)))
        yield members
        leader = Metric("opsagent_cluster_leader", "1 while this agent holds the leader lease.", "gauge")
        leader.add_sample("opsagent_cluster_leader", labels, float(self.is_leader()))
        yield leader
        sizes = self.shard_sizes()
        targets = Metric("opsagent_cluster_targets", "Targets each live agent polls (rendezvous hashing).", "gauge")
        for member, size in sorted(sizes.items()):
            targets.add_sample("opsagent_cluster_targets", {"agent": member}, float(size))
        yield targets
        handover = Metric(
            "opsagent_cluster_last_handover_timestamp_seconds",
            "When the member set last changed (targets moved).",
            "gauge",
        )
        handover.add_sample("opsagent_cluster_last_handover_timestamp_seconds", labels, self.handover_at)
        yield handover
        writes = Metric("opsagent_cluster_store_writes", "Store writes of membership and leases.", "counter")
        writes.add_sample("opsagent_cluster_store_writes_total", labels, float(self.writes))
        yield writes


def make_node(
    store: Store, config: ClusterConfig, listen: str, targets: Callable[[], Sequence[tuple[Asset, int]]]
) -> Node:
    enabled = config.enabled
    if enabled is None:
        enabled = store.engine.dialect.name == "postgresql"
    return ClusterNode(store, config, listen, targets) if enabled else Node()
