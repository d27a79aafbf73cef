"""Poll SSH targets with the real collector and poller, and print the results as JSON.

Run by tests.peers.netns inside a network namespace (``ip netns exec NS python -m
tests.peers.netns_poll``); reads a JSON list of targets on stdin: name, address, port, user,
key_file, known_hosts, timeout (the poll's), options (collector options over the linux profile).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from opsagent.collectors import options_models
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.ssh import SshCollector
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from opsagent.poller import Poller

ROOT = Path(__file__).resolve().parents[2]


async def main(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    profile = load_profiles([ROOT], options_models())[("ssh", "linux")].options
    collector = SshCollector(max_workers=16)
    metrics = MetricsRegistry()
    batch = []
    for t in targets:
        asset = Asset(
            name=t["name"],
            address=t["address"],
            port=t["port"],
            credentials={"ssh": {"user": t["user"], "key_file": t["key_file"]}},
        )
        options = {**profile, "known_hosts": [t["known_hosts"]], **t.get("options", {})}
        batch.append((asset, CollectorSpec(name="ssh", options=options, timeout=t["timeout"]), {}))
    try:
        started = time.monotonic()
        results = await Poller({"ssh": collector}, {}, metrics).poll_many(batch)
        elapsed = time.monotonic() - started
    finally:
        collector.close()
    errors = {
        s.labels["asset"]: s.labels["reason"]
        for m in metrics.collect_self()
        if m.name == "opsagent_collect_errors"
        for s in m.samples
    }
    return [
        {
            "asset": r.asset,
            "outcome": r.outcome.value,
            "reason": r.reason,
            "message": r.message,
            "duration": r.duration,
            "elapsed": elapsed,
            "samples": len(r.samples),
            "error_metric": errors.get(r.asset),
        }
        for r in results
    ]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
