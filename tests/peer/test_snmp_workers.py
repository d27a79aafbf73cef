"""SNMP polls in worker processes (serve's default on a multi-core host): the same results as in
process, against snmpsim's recordings, also when only the values travel back; a worker that dies
is replaced and its polls fail as results."""

from __future__ import annotations

from typing import Any

import pytest

from opsagent.collectors.base import CollectResult
from opsagent.collectors.snmp import SnmpCollector
from opsagent.inventory.model import CollectorSpec
from tests.peer.test_snmp_collector import v2c
from tests.peers.snmp import Snmpsim

pytestmark = pytest.mark.peer
SPEC = CollectorSpec(name="snmp", interval=60, options={"include": ["default"], "identify": False})


def series(result: CollectResult) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert result.ok, result.message
    return {(s.name, s.labels): s.value for s in result.samples if not s.name.startswith("snmp_scrape")}


async def test_worker_processes_poll_as_the_serve_process_would(snmpsim_agent: Snmpsim, monkeypatch: Any) -> None:
    assets = [
        v2c(f"w-{c}", snmpsim_agent.port, c, monkeypatch) for c in ("cisco-c3560", "huawei-s5720", "juniper-mx960")
    ]
    here = SnmpCollector()
    pooled = SnmpCollector()
    pooled.configure({"workers": 2})
    assert pooled.use_workers() == 2
    try:
        for _ in range(2):  # the second poll sends only the values back
            for asset in assets:
                local, remote = await here.collect(asset, SPEC, {}), await pooled.collect(asset, SPEC, {})
                assert series(remote) == series(local)
        assert pooled._pool is not None
        worker = next(w for w in pooled._pool.workers if w.proc is not None)
        assert worker.proc is not None and worker.signatures  # the parent kept the series it was sent
        assert all(worker.sent[a.name][1] is SPEC for a in assets if a.name in worker.sent)  # then names only
        worker.proc.kill()
        await worker.proc.wait()
        for asset in assets:  # the dead worker is replaced: polls go on
            assert series(await pooled.collect(asset, SPEC, {})) == series(await here.collect(asset, SPEC, {}))
    finally:
        pooled.stop_workers()


def test_workers_setting_is_checked() -> None:
    with pytest.raises(ValueError):
        SnmpCollector().configure({"workers": -1})
    with pytest.raises(ValueError):
        SnmpCollector().configure({"worker": 2})
