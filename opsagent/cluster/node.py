"""This agent as a cluster member: heartbeats, the leader lease, and which assets it polls.

Safety rules (why no target is polled by two agents in one interval, and no leader job runs twice):

* An agent acts (polls, runs leader jobs) only while its own view is fresh: less than ``lease - skew``
  since the start of its last successful refresh. The others count it dead only ``lease`` after that
  start, so a frozen or cut-off agent stops before anyone takes its work; after a resume it re-joins.
  A renewal that committed only after the lease it renewed had run out (a stalled heartbeat thread, a
  slow store) counts as a re-join too: another agent may have found the lease expired and taken over.
* Ownership is rendezvous hashing over the live members (:mod:`opsagent.cluster.shard`). A member that
  left stops counting at once; a joining member takes its share only once *settled*: every other live
  member has refreshed twice since its registration committed (the first refresh read it; the second
  began after that member had acted on what it read and dropped the share), or a whole lease has passed
  (a member still acting on an older view has gone stale by then). Hand-overs leave a gap, never an
  overlap.
* Every target keeps its phase in its interval on every agent (a hash of the target), so an old and a
  new owner poll it a whole interval apart. A poll is for a *slot* (the phase point it was due at); a
  late poll whose slot came before the current *epoch* (the member set this agent owns by, since it
  took effect) runs only if the target was this agent's in the epoch before as well: a new owner
  starts with the first slot after the move.
* The view and the ownership it gives are one pair, swapped whole: a poll never decides with the new
  members and the old ownership cache, or the reverse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

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
    seen: dict[str, float] = field(default_factory=dict)  # settling: each member's first heartbeat after it


@dataclass(frozen=True)
class Epoch:
    """What this agent owns under one member set, from ``since`` (this clock) on; ``before`` is the
    epoch it followed (for late polls due in it)."""

    ids: frozenset[str] = frozenset()
    members: tuple[Member, ...] = ()
    settled: bool = False
    since: float = 0.0
    owners: dict[str, bool] = field(default_factory=dict)  # asset name -> ours (a cache)
    before: Epoch | None = None

    def mine(self, asset: Asset, me: str, pin_label: str | None) -> bool:
        if not self.settled:
            return False
        cached = self.owners.get(asset.name)
        if cached is None:
            cached = self.owners[asset.name] = shard.owner(asset, self.members, pin_label) == me
        return cached


class Node:
    """Alone (SQLite, or ``cluster.enabled: false``): owns every target and is always the leader."""

    enabled = False
    id = "local"

    def owns(self, asset: Asset, due: float | None = None) -> bool:
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
        self.clock: Callable[[], float] = time.time
        self._state = (View(), Epoch())  # swapped whole by apply(): a poll reads one consistent pair
        self.targets = targets  # (asset, its target count) of the inventory, for shard sizes
        self.handover_at = 0.0  # last time the member set changed (as this agent saw it)
        self.handovers = 0
        self._assets: dict[str, Asset] = {}
        self.on_change: Callable[[], None] | None = None  # called (heartbeat thread) when the epoch changed
        self._halt = threading.Event()
        self._beating: threading.Thread | None = None
        self.refresh_failures = 0
        self.writes = 0  # store statements this agent's membership wrote (heartbeats, leases)
        self._sizes: tuple[object, dict[str, int]] | None = None  # (members and targets, shard sizes)

    @property
    def view(self) -> View:
        return self._state[0]

    # -- decisions (called on the event loop, cheap) ---------------------------------------------
    def fresh(self, now: float | None = None, view: View | None = None) -> bool:
        return (now or self.clock()) < (view or self.view).at + self.config.lease - self.skew

    def owns(self, asset: Asset, due: float | None = None) -> bool:
        """Whether this agent polls the asset now; with ``due`` (the slot a poll is for), whether that
        slot is this agent's too (see the module's docstring)."""
        view, epoch = self._state
        if not self.fresh(view=view) or not epoch.mine(asset, self.id, self.config.pin_label):
            return False
        if due is None or due >= epoch.since:
            return True
        before = epoch.before
        return before is not None and due >= before.since and before.mine(asset, self.id, self.config.pin_label)

    def owns_name(self, asset: str) -> bool:
        """By asset name (the alert engine's view); an asset not in the inventory is nobody's but ours."""
        known = self._assets.get(asset)
        return True if known is None else self.owns(known)

    def epoch(self) -> tuple[object, float]:
        """The current epoch and since when (the poll jobs' scope: jobs only for this agent's shard)."""
        epoch = self._state[1]
        return epoch, epoch.since

    def may_poll(self, asset: Asset) -> bool:
        """The asset is in this agent's shard (it has a poll job; :meth:`owns` decides each poll)."""
        return self._state[1].mine(asset, self.id, self.config.pin_label)

    def is_leader(self) -> bool:
        return self.view.leader and self.fresh()

    def fence(self, conn: Connection) -> None:
        c = schema.cluster_leases.c
        held = conn.execute(
            select(c.name)
            .where(c.name == LEADER, c.holder == self.id, c.lease_until > self.clock() + self.skew)
            .with_for_update()
        ).first()
        if held is None or not self.fresh():
            raise NotLeader(f"agent {self.id} no longer holds the leader lease")

    # -- the heartbeat --------------------------------------------------------------------------
    def refresh(self) -> View:
        """One heartbeat (in a worker thread): renew, take or keep the leader lease, read the members."""
        started = self.clock()
        lease = self.config.lease
        assets = self.targets()
        self._assets = {a.name: a for a, _n in assets}
        mine = sum(n for a, n in assets if self.owns(a))
        with self.store.transaction() as conn:
            kept = repo.renew(conn, self.me, started, lease, mine)
            leader = repo.acquire(conn, LEADER, self.id, started, lease)
            live = [m for m in repo.members(conn) if m.lease_until > started]
        self.writes += 2
        last = self.view
        if kept and self.clock() >= last.at + lease - self.skew:
            # renewed, but committed only once the lease it renewed had run out: another agent may
            # have found it expired meanwhile and taken over, so this agent waits like a newcomer
            log.info("cluster: agent %s renewed its lease %.1fs late", self.id, self.clock() - last.at - lease)
            kept = False
        view = View(started, live, leader, last.settled and kept, last.committed, dict(last.seen))
        if not kept:
            view.committed, view.seen = self.clock(), {}  # a (re)join: settle anew
            late = f", {started - last.at:.1f}s after its last heartbeat" if last.at else ""
            log.info("cluster: agent %s joined (%d live members%s)", self.id, len(live), late)
        if not view.settled:
            view.settled = self._settled(view, started)
        return view

    def _settled(self, view: View, started: float) -> bool:
        """Every other live member has refreshed twice since this agent's registration committed, or a
        whole lease has passed since (see the module's docstring)."""
        others = [m for m in view.members if m.id != self.id]
        for m in others:
            if m.id not in view.seen and m.heartbeat_at > view.committed + self.skew:
                view.seen[m.id] = m.heartbeat_at
        twice = all(m.id in view.seen and m.heartbeat_at > view.seen[m.id] for m in others)
        return twice or started >= view.committed + self.config.lease

    def apply(self, view: View) -> None:
        last, epoch = self._state
        ids = frozenset(m.id for m in view.members)
        if ids != epoch.ids or view.settled != epoch.settled:
            if epoch.ids and ids != epoch.ids:
                self.handover_at = view.at
                self.handovers += 1
                log.info("cluster: members now %s", ", ".join(sorted(ids)))
            before = replace(epoch, before=None)
            epoch = Epoch(ids, tuple(view.members), view.settled, self.clock(), {}, before)
        changed = epoch is not self._state[1]
        self._state = (view, epoch)
        if view.leader and not last.leader:
            log.info("cluster: agent %s is the leader", self.id)
        if changed and self.on_change is not None:
            self.on_change()

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
