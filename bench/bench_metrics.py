"""/metrics rendering with 100,000 series: opsagent's registry beside prometheus-client's own
Gauge objects holding the same series, in the same run. Goal: opsagent < 0.5 s.

A poll only stores values (a target's exposition text is rendered by the first scrape after its
poll, once), so the figures are: a first poll round (layouts built), a steady round (same series,
new values), the first scrape after that round (renders every target), and repeated scrapes.
Then the multi-target scrapes (``/metrics?target=ASSET``, one per asset, as Prometheus makes them
with the generated scrape config): one asset's answer from the registry's per-asset index, beside
the same answer found by filtering every target's batches.

    .venv/bin/python bench/bench_metrics.py [--series 100000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from opsagent.collectors.base import Sample
from opsagent.metrics import Exposition, MetricsRegistry
from opsagent.scrape import answer

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def best_of(n: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def series(total: int) -> list[tuple[str, list[Sample]]]:
    """A realistic mix per asset: 100 series per host (cpu, filesystems, network, memory)."""
    out = []
    for host in range(total // 100):
        samples = [
            Sample.of("node_cpu_seconds_total", 1e6 + i, "counter", cpu=str(i // 8), mode=f"m{i % 8}")
            for i in range(40)
        ]
        samples += [
            Sample.of(
                "node_filesystem_avail_bytes",
                1e9 * i,
                "gauge",
                device=f"/dev/sd{i}",
                fstype="ext4",
                mountpoint=f"/mnt/{i}",
            )
            for i in range(20)
        ]
        samples += [
            Sample.of("node_network_receive_bytes_total", 1e7 * i, "counter", device=f"eth{i}") for i in range(20)
        ]
        samples += [Sample.of(f"node_memory_F{i}_bytes", 1e8 + i) for i in range(20)]
        out.append((f"host{host:05d}", samples))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=100_000)
    args = parser.parse_args()
    data = series(args.series)

    registry = MetricsRegistry()
    started = time.perf_counter()
    for asset, samples in data:
        registry.update(asset, "local", samples)
    ingest = time.perf_counter() - started
    steady_data = [(a, [s._replace(value=s.value + 1) for s in samples]) for a, samples in data]
    started = time.perf_counter()
    for asset, samples in steady_data:
        registry.update(asset, "local", samples)
    steady = time.perf_counter() - started
    exposition = Exposition(registry, process=False)
    first_scrape = best_of(1, lambda: exposition.render(None))
    ours_text = best_of(5, lambda: exposition.render(None))
    ours_om = best_of(5, lambda: exposition.render(OPENMETRICS))
    size = len(exposition.render(None)[0])

    peer = CollectorRegistry()
    metrics: dict[str, Gauge | Counter] = {}
    for asset, samples in data:
        for s in samples:
            labels = dict(s.labels) | {"asset": asset}
            metric = metrics.get(s.name)
            if metric is None:
                cls = Counter if s.kind == "counter" else Gauge
                name = s.name.removesuffix("_total")
                metric = metrics[s.name] = cls(name, "bench", sorted(labels), registry=peer)
            child = metric.labels(**labels)
            if isinstance(child, Gauge):
                child.set(s.value)
            else:
                child.inc(s.value)
    peer_text = best_of(3, lambda: generate_latest(peer))

    total = registry.series_count()
    print(f"series: {total:,}  exposition size: {size / 1e6:.1f} MB")
    print(f"opsagent first poll round (new layouts):  {ingest:8.3f} s")
    print(f"opsagent steady poll round (new values):  {steady:8.3f} s")
    print(f"opsagent first /metrics after the round:  {first_scrape:8.3f} s   (goal < 0.5 s)")
    print(f"opsagent /metrics text 0.0.4, repeated:   {ours_text:8.3f} s   (goal < 0.5 s)")
    print(f"opsagent /metrics OpenMetrics:            {ours_om:8.3f} s")
    print(f"prometheus-client Gauge objects, text:    {peer_text:8.3f} s")
    print(f"ratio peer / opsagent (text):             {peer_text / ours_text:8.1f} x")
    per_target(registry, exposition, [asset for asset, _ in data])


def per_target(registry: MetricsRegistry, exposition: Exposition, assets: list[str]) -> None:
    """One scrape per asset, every asset once (what Prometheus does each scrape interval)."""
    batches = registry._batches  # the flat map /metrics?target= would have to filter without the index

    def filtered(asset: str) -> str:
        chosen = [b for (a, _c), b in list(batches.items()) if a == asset]
        return registry._render(registry._merged(texts=True, batches=chosen), False)

    started = time.perf_counter()
    for asset in assets:
        answer(exposition, {"target": asset}, ["local"], None)
    indexed = time.perf_counter() - started
    started = time.perf_counter()
    for asset in assets:
        filtered(asset)
    scan = time.perf_counter() - started
    n = len(assets)
    print(f"/metrics?target= x {n} assets, indexed:    {indexed:8.3f} s   ({indexed / n * 1e6:6.0f} µs per scrape)")
    print(f"/metrics?target= x {n} assets, filtering: {scan:8.3f} s   ({scan / n * 1e6:6.0f} µs per scrape)")


if __name__ == "__main__":
    main()
