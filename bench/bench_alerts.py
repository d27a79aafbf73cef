"""Rule evaluation throughput: 100 rules over 1,000,000 samples held in the series history, by
opsagent's evaluator and, in the same run, by a real Prometheus evaluating the same 100 rules over the
same series (its own `prometheus_rule_group_last_duration_seconds`).

    python bench/bench_alerts.py [--series 50000] [--points 20] [--no-prometheus]

Goal (issue 7): >= 1,000,000 samples evaluated per second on one core.
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from opsagent.alerts.promql import Evaluator, parse
from opsagent.series import SeriesHistory


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


def opsagent_figures(h: SeriesHistory, exprs: list[str], t: float) -> tuple[float, int]:
    ev = Evaluator(h)
    parsed = [parse(e) for e in exprs]
    ev.stats.samples = 0
    started = time.process_time()
    for expr in parsed:
        ev.evaluate(expr, t)
    return time.process_time() - started, ev.stats.samples


def prometheus_figures(series: int, exprs: list[str]) -> str:
    prom = shutil.which("prometheus")
    if prom is None:
        return "prometheus not installed (Debian package `prometheus`)"
    per_metric = series // 10
    lines = []
    for m in range(10):
        lines.append(f"# TYPE bench_metric_{m} gauge\n")
        lines += [f'bench_metric_{m}{{asset="host{i % 1000}",device="d{i}"}} {i % 100}\n' for i in range(per_metric)]
    body = "".join(lines).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = Path(tempfile.mkdtemp(prefix="bench-prom-"))
    groups = {
        "groups": [
            {"name": "bench", "interval": "5s", "rules": [{"alert": f"B{i}", "expr": e} for i, e in enumerate(exprs)]}
        ]
    }
    (base / "rules.yml").write_text(yaml.safe_dump(groups))
    (base / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "5s", "scrape_timeout": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(base / "rules.yml")],
        "scrape_configs": [{"job_name": "bench", "static_configs": [{"targets": [f"127.0.0.1:{server.server_port}"]}]}],
    }))  # fmt: skip
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                q = urllib.parse.urlencode(
                    {"query": 'prometheus_rule_group_last_duration_seconds{rule_group=~".*bench"}'}
                )
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{q}", timeout=5) as resp:
                    result = json.loads(resp.read())["data"]["result"]
                q2 = urllib.parse.urlencode({"query": 'count({__name__=~"bench_metric_.*"})'})
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{q2}", timeout=5) as resp:
                    count = json.loads(resp.read())["data"]["result"]
                if result and count and float(result[0]["value"][1]) > 0 and int(count[0]["value"][1]) >= series:
                    time.sleep(6)  # one more evaluation with the full series set
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{q}", timeout=5) as resp:
                        result = json.loads(resp.read())["data"]["result"]
                    secs = float(result[0]["value"][1])
                    return f"{secs * 1000:8.1f} ms per evaluation of 100 rules over {series:,} series (latest points)"
            except OSError:
                continue
        return "prometheus did not report a rule group duration in time"
    finally:
        proc.terminate()
        proc.wait(20)
        server.shutdown()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=50_000)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--no-prometheus", action="store_true")
    args = parser.parse_args()
    h = build(args.series, args.points)
    total = h.point_count()
    t = 1000.0 + 15 * (args.points - 1)
    exprs = rules()
    spent, touched = opsagent_figures(h, exprs, t)
    print(f"history: {h.series_count():,} series, {total:,} samples held")
    print(f"opsagent   : {spent * 1000:8.1f} ms CPU for 100 rules; {touched:,} samples read; "
          f"{touched / spent:,.0f} samples/s (goal >= 1,000,000)")  # fmt: skip
    if not args.no_prometheus:
        print(f"prometheus : {prometheus_figures(args.series, exprs)}")


if __name__ == "__main__":
    main()
