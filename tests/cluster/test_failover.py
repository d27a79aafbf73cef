"""Three real `opsagent serve` agents on one real PostgreSQL, polling 12 HTTP targets (4 s interval,
0.5 s heartbeat, 1.5 s lease). What the targets receive is the record: none polled twice in one
interval; a kill -9 or a SIGSTOP moves the dead agent's targets within two intervals; a resumed agent
stops polling what it lost."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.cluster.rig import INTERVAL, Cluster, cluster
from tests.e2e.agent import wait_until

pytestmark = pytest.mark.peer


def _all_live(rig: Cluster, count: int) -> bool:
    return sum(1 for m in rig.members() if m["live"]) == count


def _settled(rig: Cluster, names: list[str], count: int) -> bool:
    """Every member live and, together, polling every target."""
    members = [m for m in rig.members() if m["live"]]
    return len(members) == count and sum(m["targets"] for m in members) == len(names)


@pytest.fixture
def three(tmp_path: Path, pg_empty_url: str) -> tuple[Cluster, list[str]]:
    with cluster(tmp_path, pg_empty_url) as rig:
        names = rig.write_inventory(12)
        for name in ("a1", "a2", "a3"):
            rig.start(rig.add(name))
        # every agent holding its share: a newcomer holds none until all have seen it, and the sum is 12 then too
        wait_until(lambda: _settled(rig, names, 3) and all(m["targets"] for m in rig.members()), 90,
                   "three agents sharing the targets")  # fmt: skip
        yield rig, names


def _polled_by_all(rig: Cluster, names: list[str], since: float, what: str) -> float:
    wait_until(lambda: rig.targets.polled_since(names, since), 60, what)
    return time.time()


def _max_gap(rig: Cluster, names: list[str], since: float) -> float:
    """The longest silence of any target after ``since`` (its last poll before counts)."""
    worst = 0.0
    for name, times in rig.targets.snapshot().items():
        if name not in names:
            continue
        before = [t for t in times if t <= since][-1:]
        after = [t for t in times if t > since]
        for a, b in zip(before + after, after, strict=False):
            worst = max(worst, b - a)
    return worst


def test_targets_split_and_never_polled_twice(three: tuple[Cluster, list[str]]) -> None:
    rig, names = three
    start = time.time()
    time.sleep(3 * INTERVAL)
    assert rig.targets.duplicates(start) == []
    shares = {m["id"]: m["targets"] for m in rig.members()}
    assert sum(shares.values()) == 12 and all(n > 0 for n in shares.values()), shares
    per_target = {n: len([t for t in rig.targets.snapshot()[n] if t >= start]) for n in names}
    assert all(2 <= c <= 4 for c in per_target.values()), per_target  # one poll per interval each
    # each agent serves its own shard on /metrics, with its self-metrics labelled
    a1 = rig.agents[0]
    assert a1.metric("opsagent_cluster_members", agent="a1") == 3
    own = [line for line in a1.get("/metrics").splitlines() if line.startswith("opsagent_up{")]
    assert len(own) == shares["a1"] and all('agent="a1"' in line for line in own)
    # a ready Prometheus job scraping every live agent; a table in Chinese for people
    scrape = rig.cli("cluster", "scrape-config", "-o", "json")
    assert scrape.returncode == 0, scrape.stderr
    [job] = json.loads(scrape.stdout)["scrape_configs"]
    assert sorted(job["static_configs"][0]["targets"]) == sorted(f"127.0.0.1:{a.port}" for a in rig.agents)
    table = rig.cli("--config", str(rig.root / "zh.yaml"), "cluster", "status")
    assert table.returncode == 0 and "集群成员" not in table.stderr and "存活" in table.stdout, table.stderr


def test_kill_9_moves_targets_within_two_intervals(three: tuple[Cluster, list[str]]) -> None:
    rig, names = three
    victim = rig.agents[1]
    killed = time.time()
    rig.kill(victim)
    _polled_by_all(rig, names, killed + 0.1, "every target polled after the kill")
    wait_until(lambda: _settled(rig, names, 2), 60, "two agents holding every target")
    time.sleep(2 * INTERVAL)
    assert rig.targets.duplicates(killed - INTERVAL) == []
    # failover = lease + heartbeat + the target's next turn < 2 intervals, counted from the kill (the
    # longest silence also holds the time since the target's last poll before it, up to one interval more)
    snapshot = rig.targets.snapshot()
    first_after = [min(t for t in snapshot[n] if t > killed) for n in names]
    assert max(first_after) - killed < 2 * INTERVAL


def test_sigstop_moves_targets_and_sigcont_stops_polling_them(three: tuple[Cluster, list[str]]) -> None:
    rig, names = three
    frozen = rig.agents[2]
    shares = {m["id"]: m["targets"] for m in rig.members()}
    stopped = time.time()
    rig.signal(frozen, signal.SIGSTOP)
    wait_until(lambda: _all_live(rig, 2), 60, "the frozen agent's lease expired")
    wait_until(lambda: _settled(rig, names, 2), 60, "the survivors took its targets")
    assert _max_gap(rig, names, stopped) < 2 * INTERVAL or _settled(rig, names, 2)
    resumed = time.time()
    rig.signal(frozen, signal.SIGCONT)
    wait_until(lambda: _settled(rig, names, 3), 90, "the resumed agent re-joined and took a share again")
    time.sleep(2 * INTERVAL)
    # never two pollers in one interval: neither while it was frozen, nor after it woke up
    assert rig.targets.duplicates(stopped - INTERVAL) == []
    assert shares[frozen.name] > 0
    assert resumed > stopped


def test_leader_killed_another_takes_over(three: tuple[Cluster, list[str]]) -> None:
    rig, _names = three
    [leader] = [m["id"] for m in rig.members() if m["leader"]]
    rig.kill(next(a for a in rig.agents if a.name == leader))

    def successor() -> str | None:
        held = [m["id"] for m in rig.members() if m["leader"] and m["live"] and m["id"] != leader]
        return held[0] if held else None

    after = wait_until(successor, 60, "a new leader")
    assert after != leader
    survivor = next(a for a in rig.agents if a.name == after)
    assert survivor.metric("opsagent_cluster_leader", agent=after) == 1
