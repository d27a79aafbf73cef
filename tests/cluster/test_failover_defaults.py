"""Failover with the default heartbeat and lease, at the shipped `local` collector's 15 s interval (the
shortest shipped one): three real agents on one real PostgreSQL; after `kill -9` of one, every target
it polled is polled again, by a survivor, less than two intervals after the kill. The bound is
lease + heartbeat + one interval (each target keeps its phase), 2 + 6 + 15 = 23 s < 30 s."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from opsagent.cluster.config import ClusterConfig
from tests.cluster.rig import Agent, cluster
from tests.e2e.agent import wait_until

pytestmark = pytest.mark.peer

INTERVAL = 15.0


def _shard(agent: Agent) -> set[str]:
    """The assets an agent serves on its /metrics (its shard)."""
    return {
        m.group(1)
        for line in agent.get("/metrics").splitlines()
        if line.startswith("opsagent_up{") and (m := re.search(r'asset="([^"]+)"', line))
    }


def test_defaults_take_over_a_killed_agents_targets_within_two_intervals(tmp_path: Path, pg_empty_url: str) -> None:
    defaults = ClusterConfig()
    assert defaults.lease + defaults.heartbeat + INTERVAL < 2 * INTERVAL  # the bound the defaults promise
    with cluster(tmp_path, pg_empty_url) as rig:
        rig.interval, rig.heartbeat, rig.lease = INTERVAL, None, None  # the agents' own defaults
        names = rig.write_inventory(12)
        for name in ("d1", "d2", "d3"):
            rig.start(rig.add(name))

        def settled() -> bool:
            live = [m for m in rig.members() if m["live"]]
            return len(live) == 3 and sum(m["targets"] for m in live) == len(names)

        wait_until(settled, 120, "three agents sharing the targets")
        victim = rig.agents[1]
        wait_until(lambda: _shard(victim), 2 * INTERVAL + 30, "the victim polling its shard")
        since = time.time()
        wait_until(lambda: rig.targets.polled_since(names, since), 2 * INTERVAL + 30, "every target polled")
        mine = sorted(_shard(victim))
        killed = time.time()
        rig.kill(victim)
        wait_until(lambda: rig.targets.polled_since(mine, killed), 4 * INTERVAL, "the victim's targets polled again")
        snap = rig.targets.snapshot()
        again = {n: min(t for t in snap[n] if t > killed) - killed for n in mine}
        assert max(again.values()) < 2 * INTERVAL, again
        assert rig.targets.duplicates(killed - INTERVAL, INTERVAL) == []
