"""Slow-cadence columns (ifType, ifMtu, ifSpeed, ifPhysAddress, ifHighSpeed, ENTITY-MIB) against
snmpsim's recordings of real devices: a poll that reuses them exposes exactly the series (names,
labels and values) of a poll that walks everything, and no exposed value is older than
``slow_max_age``."""

from __future__ import annotations

from typing import Any

import pytest

from opsagent.collectors.base import CollectResult
from opsagent.collectors.snmp import SnmpCollector
from opsagent.inventory.model import CollectorSpec
from tests.peer.test_snmp_collector import v2c
from tests.peers.snmp import RECORDINGS, Snmpsim

pytestmark = pytest.mark.peer
SLOW = {"ifType", "ifMtu", "ifSpeed", "ifPhysAddress", "ifHighSpeed"}


def series(result: CollectResult) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert result.ok, result.message
    return {(s.name, s.labels): s.value for s in result.samples if not s.name.startswith("snmp_scrape")}


def pdus(result: CollectResult) -> float:
    return next(s.value for s in result.samples if s.name == "snmp_scrape_pdus_returned")


def spec(**options: Any) -> CollectorSpec:
    return CollectorSpec(name="snmp", interval=60, options={"include": ["if_mib", "entity"], **options})


@pytest.mark.parametrize("community", sorted(RECORDINGS))
async def test_slow_columns_reused_expose_the_series_of_a_full_walk(
    snmpsim_agent: Snmpsim, community: str, monkeypatch: Any
) -> None:
    asset = v2c("slow-" + community, snmpsim_agent.port, community, monkeypatch)
    cadence = SnmpCollector()
    first = await cadence.collect(asset, spec(), {})
    reused = await cadence.collect(asset, spec(), {})  # slow columns and lookups from the last poll
    full = await SnmpCollector().collect(asset, spec(slow_max_age=0, lookup_cache=0), {})
    assert series(reused) == series(full) == series(first)
    names = {name for name, _ in series(full)}
    if names & SLOW:  # the recording has an IF-MIB: its slow columns were not fetched again
        assert pdus(reused) < pdus(first)


async def test_slow_columns_are_never_older_than_slow_max_age(snmpsim_agent: Snmpsim, monkeypatch: Any) -> None:
    now = [1000.0]
    collector = SnmpCollector(clock=lambda: now[0])
    asset = v2c("slow-age", snmpsim_agent.port, "cisco-c3560", monkeypatch)
    opts = spec(slow_max_age=300, lookup_cache=3600)
    walked: list[float] = []
    fetched: list[float] = []
    # polls every 60 s, one of them 40 s late, then a long pause
    for t in (0, 60, 120, 180, 240, 300, 360, 460, 480, 540, 600, 1500):
        now[0] = 1000.0 + t
        result = await collector.collect(asset, opts, {})
        assert result.ok, result.message
        fetched.append(pdus(result))
        if not walked or fetched[-1] > min(fetched):
            walked.append(t)
        # what this poll exposes stays until the next one (one interval): never older than the bound
        assert t - walked[-1] + 60 <= 300, (t, walked, fetched)
    assert walked == [0, 300, 600, 1500], fetched  # refreshed only when the next poll would see them too old
    assert len(set(fetched[1:])) == 2  # a poll either walks the slow columns or takes none of them
