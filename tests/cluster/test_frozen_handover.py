"""An agent frozen (SIGSTOP) for most of an interval — shorter than its lease, so it stays a member —
once on its own and once while a new agent joins and takes part of its share: counted from the agents'
own poll records, no target is polled twice less than half an interval apart (a run that missed its
slot by more than that is skipped, not run late beside the next slot or the new owner's), and no slot
of a target is polled by two agents. Real `opsagent serve` processes on one real PostgreSQL.

Before the fix the frozen agent, on waking, ran every poll it had missed (up to a whole interval late)
and then each target's next slot on time: two polls of one target 1–3 s apart at a 6 s interval."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.cluster.rig import Cluster, cluster, duplicates
from tests.e2e.agent import wait_until

pytestmark = pytest.mark.peer

INTERVAL = 6.0
FROZEN = 4.5  # most of an interval, well inside the lease
TARGETS = 60


def _settled(rig: Cluster, count: int) -> bool:
    live = [m for m in rig.members() if m["live"]]
    return len(live) == count and sum(m["targets"] for m in live) == TARGETS and all(m["targets"] for m in live)


def _freeze(rig: Cluster, name: str) -> None:
    agent = next(a for a in rig.agents if a.name == name)
    rig.signal(agent, signal.SIGSTOP)
    time.sleep(FROZEN)
    rig.signal(agent, signal.SIGCONT)


def test_a_frozen_agent_neither_polls_late_nor_beside_a_new_owner(tmp_path: Path, pg_empty_url: str) -> None:
    with cluster(tmp_path, pg_empty_url) as rig:
        # a long lease: the frozen agent keeps its membership (what is tested is its late polls)
        rig.interval, rig.heartbeat, rig.lease = INTERVAL, 1.0, 12.0
        rig.write_inventory(TARGETS)
        for name in ("f1", "f2", "f3"):
            rig.start(rig.add(name))
        wait_until(lambda: _settled(rig, 3), 120, "three agents sharing the targets")
        since = time.time()
        time.sleep(INTERVAL)
        _freeze(rig, "f2")  # on its own
        time.sleep(2 * INTERVAL)
        rig.start(rig.add("f4"))  # a hand-over: f4 takes part of every share, f2's too
        _freeze(rig, "f2")  # f2 frozen while f4 settles
        wait_until(lambda: _settled(rig, 4), 120, "four agents sharing the targets")
        time.sleep(2 * INTERVAL)
        polls = [p for agent in rig.agents for p in agent.polls(since)]
        same_slot, close = duplicates(polls, INTERVAL)
        assert same_slot == [], same_slot[:5]
        assert close == [], close[:5]
        f4 = {p.target for p in polls if p.agent == "f4"}
        assert f4 and {p.target for p in polls if p.agent == "f2"} & f4  # f4 took over some of f2's targets
        per_target = {p.target for p in polls}
        assert len(per_target) == TARGETS
