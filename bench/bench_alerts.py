"""Rule evaluation throughput: 100 rules over 1,000,000 samples held in the series history, by
opsagent's evaluator and, in the same run, by a real Prometheus evaluating the same 100 rules over the
same series (its own `prometheus_rule_group_last_duration_seconds`).

Second figure: a real `opsagent serve` with a `for: 0s` rule and a local webhook receiver; the time
from the first sample beyond the threshold (read by the collector) to the webhook received — the
incident is committed before any notification goes out — over several crossings.

    python bench/bench_alerts.py [--series 50000] [--points 20] [--crossings 7] [--no-prometheus] [--no-latency]

Goals (issue 7): >= 1,000,000 samples evaluated per second on one core; < 1 s plus `for` from a
sample crossing a threshold to the incident stored and the webhook sent.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import yaml

from opsagent.alerts.promql import Evaluator, parse
from opsagent.series import SeriesHistory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.peers.ports import free_port  # noqa: E402


def build(series: int, points: int) -> SeriesHistory:
    h = SeriesHistory(retention=1e9, max_points=points + 5)
    per_metric = series // 10
    for step in range(points):
        t = 1000.0 + 15 * step
        rows = [
            (f"bench_metric_{m}", {"asset": f"host{i % 1000}", "device": f"d{i}"}, float((i * 7 + step) % 100), "gauge")
            for m in range(10)
            for i in range(per_metric)
        ]
        h.ingest("bench", rows, t, replace=True)
    return h


def rules() -> list[str]:
    out = []
    for r in range(100):
        m = r % 10
        kind = r % 4
        if kind == 0:
            out.append(f"bench_metric_{m} > {90 + r % 10}")
        elif kind == 1:
            out.append(f"rate(bench_metric_{m}[5m]) > 1")
        elif kind == 2:
            out.append(f'avg_over_time(bench_metric_{m}{{device=~"d1.*"}}[5m]) > 95')
        else:
            out.append(f"max by (asset) (bench_metric_{m}) > 98")
    return out


def opsagent_figures(h: SeriesHistory, exprs: list[str], t: float) -> tuple[float, float, int]:
    ev = Evaluator(h)
    parsed = [parse(e) for e in exprs]
    ev.stats.samples = 0
    started, wall = time.process_time(), time.perf_counter()
    for expr in parsed:
        ev.evaluate(expr, t)
    return time.process_time() - started, time.perf_counter() - wall, ev.stats.samples


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def _own_metric(text: str, name: str, label: str = "") -> float | None:
    """A sample of Prometheus' own /metrics (read directly: it does not scrape itself here)."""
    for line in text.splitlines():
        if line.startswith(name) and label in line and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    return None


def _exposition(series: int) -> bytes:
    """The same series as build() holds (latest values), as a static exposition file."""
    per_metric = series // 10
    lines = []
    for m in range(10):
        lines.append(f"# TYPE bench_metric_{m} gauge\n")
        lines += [f'bench_metric_{m}{{asset="host{i % 1000}",device="d{i}"}} {i % 100}\n' for i in range(per_metric)]
    return "".join(lines).encode()


def prometheus_figures(series: int, exprs: list[str], wait: float = 240.0) -> str:
    prom = shutil.which("prometheus")
    if prom is None:
        return "prometheus not installed (Debian package `prometheus`)"
    base = Path(tempfile.mkdtemp(prefix="bench-prom-"))
    (base / "metrics").write_bytes(_exposition(series))
    directory = str(base)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=directory, **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    group = {"name": "bench", "interval": "5s", "rules": [{"alert": f"B{i}", "expr": e} for i, e in enumerate(exprs)]}
    (base / "rules.yml").write_text(yaml.safe_dump({"groups": [group]}))
    (base / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "5s", "scrape_timeout": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(base / "rules.yml")],
        "scrape_configs": [{"job_name": "bench", "static_configs": [{"targets": [f"127.0.0.1:{server.server_port}"]}]}],
    }))  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [
            prom,
            f"--config.file={base / 'prometheus.yml'}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    own = f"http://127.0.0.1:{port}/metrics"
    durations: list[float] = []
    samples: list[float] = []
    cpu: list[tuple[float, float]] = []  # (process CPU seconds, rule group iterations)
    last_eval = None
    try:
        deadline = time.monotonic() + wait
        full_since: float | None = None
        while time.monotonic() < deadline and len(durations) < 5:
            time.sleep(1)
            try:
                text = _get(own)
            except OSError:
                continue
            head = _own_metric(text, "prometheus_tsdb_head_series ") or 0
            if head < series:
                continue
            full_since = full_since or time.monotonic()
            if time.monotonic() - full_since < 11:
                continue  # two evaluations with the whole series set (and some range in [5m])
            evaluated = _own_metric(text, "prometheus_rule_group_last_evaluation_timestamp_seconds", "bench")
            secs = _own_metric(text, "prometheus_rule_group_last_duration_seconds", "bench")
            if evaluated and secs is not None and evaluated != last_eval:
                last_eval = evaluated
                durations.append(secs)
                samples.append(_own_metric(text, "prometheus_rule_group_last_evaluation_samples", "bench") or 0)
                cpu.append((
                    _own_metric(text, "process_cpu_seconds_total ") or 0.0,
                    _own_metric(text, "prometheus_rule_group_iterations_total", "bench") or 0.0,
                ))  # fmt: skip
        if not durations:
            return f"prometheus did not report a rule group duration within {wait:.0f} s"
        median = statistics.median(durations)
        iterations = cpu[-1][1] - cpu[0][1]
        per_cycle = f"{(cpu[-1][0] - cpu[0][0]) / iterations * 1000:.0f} ms" if iterations > 0 else "n/a"
        return (
            f"{per_cycle} CPU per evaluation cycle (process CPU, scrapes of the {series:,} series included); "
            f"{median * 1000:8.1f} ms wall per evaluation of the same 100 rules over {series:,} series "
            f"(median of {len(durations)}; its own prometheus_rule_group_last_duration_seconds); "
            f"{statistics.median(samples):,.0f} samples in the result vectors "
            "(prometheus_rule_group_last_evaluation_samples)"
        )
    finally:
        proc.terminate()
        proc.wait(20)
        server.shutdown()
        shutil.rmtree(base, ignore_errors=True)


MEMINFO = "MemTotal: 1000000 kB\nMemFree: {avail} kB\nMemAvailable: {avail} kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"
LATENCY_RULE = {
    "alert": "BenchMemoryLow",
    "expr": "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10",
    "for": "0s",
    "labels": {"severity": "critical"},
    "annotations": {"summary": "{{ $labels.asset }} memory low"},
}


class MeminfoFifo:
    """/proc/meminfo as a FIFO: each read by the collector is served by this thread, so the bench
    knows the exact moment the first sample beyond the threshold was taken (not just written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.avail = 500_000
        self.low_read_at: float | None = None
        self.reads = 0
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                with self.path.open("w") as fifo:  # blocks until the collector opens it
                    avail = self.avail  # the value at the moment of the read, not of the previous one
                    fifo.write(MEMINFO.format(avail=avail))
            except BrokenPipeError:
                continue  # the reader went away before reading (a poll timed out): not a sample
            self.reads += 1
            if avail < 100_000 and self.low_read_at is None:
                self.low_read_at = time.time()

    def stop(self) -> None:
        self.stopped = True
        with contextlib.suppress(OSError):  # unblock a writer waiting for a reader (never block here)
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[float, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.received.append((time.time(), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _wait(predicate: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.01)
    return None


def _healthy(port: int) -> bool:
    try:
        return bool(_get(f"http://127.0.0.1:{port}/healthz"))
    except OSError:
        return False


def latency_figures(crossings: int) -> str:
    """Real `opsagent serve` (1 s poll, default 15 s evaluation interval, `for: 0s`): time from the
    first sample beyond the threshold being read to the webhook received (incident stored first)."""
    base = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    (base / "proc").mkdir()
    fifo = MeminfoFifo(base / "proc" / "meminfo")
    (base / "site" / "alerts").mkdir(parents=True)
    (base / "site" / "alerts" / "bench.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "latency", "rules": [LATENCY_RULE]}]})
    )
    (base / "site" / "alerts" / "notifications.yaml").write_text(yaml.safe_dump({
        "flapping": {"enabled": False},  # crossings on purpose, a few seconds apart
        "receivers": [{"name": "hook", "webhook": {"url": f"http://127.0.0.1:{hook.server_port}/hook"}}],
        "routes": [{"receiver": "hook", "group_wait": "0s", "group_interval": "1s"}],
    }))  # fmt: skip
    asset = {"name": "bench-host", "kind": "host", "collectors": [{"name": "local", "interval": "1s",
             "options": {"proc_path": str(base / "proc")}}]}  # fmt: skip
    (base / "inventory.yaml").write_text(yaml.safe_dump({"assets": [asset]}))
    (base / "opsagent.yaml").write_text(
        yaml.safe_dump({"content_roots": ["site"], "seed_inventory": ["inventory.yaml"]})
    )
    env = os.environ | {"OPSAGENT_HOME": str(base)}
    env.pop("OPSAGENT_STORE", None)
    env.pop("OPSAGENT_CONFIG", None)
    port = free_port()
    log = (base / "serve.log").open("wb")
    agent = subprocess.Popen(
        [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    figures: list[float] = []
    try:
        if not _wait(lambda: _healthy(port), 120) or not _wait(lambda: fifo.reads >= 2, 60):
            return "opsagent serve did not start polling within 180 s:\n" + (base / "serve.log").read_text()[-2000:]
        for _ in range(crossings):
            Receiver.received.clear()
            fifo.low_read_at = None
            fifo.avail = 50_000  # 5 % available: beyond the 10 % threshold
            got = _wait(lambda: [t for t, b in Receiver.received if b["status"] == "firing"], 60)
            if not got or fifo.low_read_at is None:
                return "no firing webhook within 60 s:\n" + (base / "serve.log").read_text()[-2000:]
            figures.append(got[0] - fifo.low_read_at)
            fifo.avail = 500_000
            if not _wait(lambda: [t for t, b in Receiver.received if b["status"] == "resolved"], 60):
                return "no resolved webhook within 60 s:\n" + (base / "serve.log").read_text()[-2000:]
            time.sleep(2)
        figures.sort()
        p95 = figures[min(len(figures) - 1, round(0.95 * (len(figures) - 1)))]
        return (
            f"median {statistics.median(figures) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {figures[-1] * 1000:.0f} ms "
            f"over {len(figures)} crossings (goal < 1 s plus for; for = 0 s)"
        )
    finally:
        agent.terminate()
        agent.wait(30)
        log.close()
        fifo.stop()
        hook.shutdown()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=50_000)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--crossings", type=int, default=7)
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    args = parser.parse_args()
    h = build(args.series, args.points)
    total = h.point_count()
    t = 1000.0 + 15 * (args.points - 1)
    exprs = rules()
    spent, wall, touched = opsagent_figures(h, exprs, t)
    print(f"history: {h.series_count():,} series, {total:,} samples held; load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} CPUs (wall times stretch on a busy machine, CPU time less)")  # fmt: skip
    print(f"opsagent   : {wall * 1000:8.1f} ms wall ({spent * 1000:.1f} ms CPU) per evaluation of 100 rules; "
          f"{touched:,} samples read; {touched / spent:,.0f} samples/s per core (goal >= 1,000,000)")  # fmt: skip
    if not args.no_prometheus:
        print(f"prometheus : {prometheus_figures(args.series, exprs)}; load average {os.getloadavg()[0]:.1f}")
    if not args.no_latency:
        print(f"threshold crossed -> incident stored + webhook received: {latency_figures(args.crossings)}")


if __name__ == "__main__":
    main()
