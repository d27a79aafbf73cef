"""Knowledge-base search: p50/p95 of ranked full-text queries (Chinese, English, mixed) over a generated
corpus of articles and resolved incidents, beside a plain ``LIKE '%…%'`` scan of the same table in the
same run, and the time to build the index (segmenting with rjieba + inserting, FTS5 / GIN kept by the
store) — on SQLite (the embedded default) and on a real PostgreSQL started on 127.0.0.1.

    python bench/bench_kb.py [--docs 100000] [--repeat 20] [--no-postgres]

Goals (issue 22): search p95 < 50 ms over 100,000 articles + resolved tickets; indexing 100,000 < 60 s.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from opsagent.knowledge import index
from opsagent.knowledge.search import Filters, search
from opsagent.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parents[1]
PLACES = [
    "财务部",
    "人事部",
    "三楼会议室",
    "销售部",
    "研发中心",
    "二号机房",
    "前台",
    "仓库",
    "总经理办公室",
    "客服中心",
]
DEVICES = ["打印机", "复印机", "扫描仪", "笔记本电脑", "台式机", "交换机", "路由器", "服务器", "数据库", "VPN 客户端",
           "Outlook", "无线网络", "投影仪", "电话机", "防火墙"]  # fmt: skip
PROBLEMS = ["无法打印", "卡纸", "无法开机", "连接失败", "频繁掉线", "速度很慢", "蓝屏", "无法发送邮件", "端口 down",
            "磁盘空间不足", "CPU 使用率高", "登录失败", "无法访问内网", "报错 809", "显示脱机"]  # fmt: skip
EXTRA = [
    "已重启",
    "用户反映从早上开始",
    "更换硬件后恢复",
    "升级驱动后解决",
    "清理日志后恢复",
    "需现场处理",
    "远程协助完成",
    "",
]
EN = ["printer offline after windows update", "disk almost full on linux server", "vpn connection fails error 809",
      "database connection pool exhausted", "outlook cannot send mail smtp auth", "switch port flapping",
      "laptop wifi keeps dropping", "account locked after password change", "backup job failed tape drive",
      "certificate expired on web server"]  # fmt: skip
QUERIES = ["打印机", "打印", "无法打印", "卡纸", "VPN 连接失败", "磁盘空间", "Outlook 无法发送", "交换机 端口",
           "蓝屏", "数据库 连接", "printer offline", "disk full", "connection pool", "vpn 809",
           "财务部 打印机"]  # fmt: skip


def make_doc(i: int, rng: random.Random) -> dict[str, Any]:
    kind = "article" if i % 2 == 0 else "incident"
    status = "published" if kind == "article" else "resolved"
    if rng.random() < 0.2:
        title = rng.choice(EN) + f" ({rng.randrange(1000)})"
        body = f"{rng.choice(EN)}; steps: restart, check logs, ticket {i}"
    else:
        title = f"{rng.choice(PLACES)}{rng.choice(DEVICES)}{rng.choice(PROBLEMS)}"
        place, device, problem = rng.choice(PLACES), rng.choice(DEVICES), rng.choice(PROBLEMS)
        body = f"{place}的{device}{problem}，{rng.choice(EXTRA)}。处理：{rng.choice(EXTRA)}"
    return index.document(kind, i, "zh" if kind == "article" else "", status, "internal", title, body)


def build(store: Store, n: int) -> tuple[float, float, float]:
    """(segmenting CPU seconds, insert wall seconds, total wall seconds) for n documents."""
    rng = random.Random(22)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    docs = [make_doc(i, rng) for i in range(1, n + 1)]
    segment_cpu = time.process_time() - cpu0
    t0 = time.perf_counter()
    with store.transaction() as conn:
        for start in range(0, n, 5000):
            index._upsert(conn, docs[start : start + 5000])
    insert_wall = time.perf_counter() - t0
    return segment_cpu, insert_wall, time.perf_counter() - wall0


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm the caches once
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def like_scan(store: Store, query: str) -> Callable[[], Any]:
    pattern = f"%{query}%"

    def run() -> Any:
        with store.engine.connect() as conn:
            sql = "SELECT kind, ref FROM kb_search WHERE title LIKE :p OR body LIKE :p"
            return conn.execute(text(sql), {"p": pattern}).all()

    return run


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench(store: Store, n: int, repeat: int, label: str) -> None:
    segment_cpu, insert_wall, total = build(store, n)
    print(f"\n== {label}: {n} documents (half articles, half resolved incidents; ~20 % English)")
    parts = f"segmenting + documents {segment_cpu:.1f} s CPU, insert + index {insert_wall:.1f} s"
    print(f"indexing: {total:.1f} s wall ({parts})")
    print(f"{'query':<18} {'hits≤20':>7} {'matches':>8} {'search p50':>11} {'p95':>7} {'LIKE p50':>9} {'p95':>7}")
    ours: list[float] = []
    theirs: list[float] = []
    filters = Filters()
    for query in QUERIES:
        hits = search(store, query, filters, 20, sync=False)
        times = timed(lambda q=query: search(store, q, filters, 20, sync=False), repeat)
        scan = like_scan(store, query)
        matches = len(scan())
        scan_times = timed(scan, max(3, repeat // 4))
        ours += times
        theirs += scan_times
        print(f"{query:<18} {len(hits):>7} {matches:>8} {statistics.median(times):>9.1f}ms {pct(times, 0.95):>5.1f}ms "
              f"{statistics.median(scan_times):>7.1f}ms {pct(scan_times, 0.95):>5.1f}ms")  # fmt: skip
    print(
        f"all queries: search p50 {statistics.median(ours):.1f} ms, p95 {pct(ours, 0.95):.1f} ms; "
        f"LIKE scan p50 {statistics.median(theirs):.1f} ms, p95 {pct(theirs, 0.95):.1f} ms"
    )


def on_sqlite(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(sqlite_url(Path(tmp) / "kb.db"))
        try:
            bench(store, n, repeat, "SQLite (FTS5 unicode61 over rjieba words)")
        finally:
            store.close()


def on_postgres(n: int, repeat: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.peers.postgres import start_postgres  # a real server on 127.0.0.1, as the tests start it

    server = start_postgres()
    try:
        server.create_database("bench_kb")
        store = Store(server.url("bench_kb"))
        try:
            with store.engine.connect() as conn:
                version = conn.execute(text("SHOW server_version")).scalar()
            bench(store, n, repeat, f"PostgreSQL {version} (stored tsvector + GIN over rjieba words)")
        finally:
            store.close()
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite (the embedded default) only")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; before: {uptime()}")
    on_sqlite(args.docs, args.repeat)
    if not args.no_postgres:
        on_postgres(args.docs, args.repeat)
    print(f"after: {uptime()}")


if __name__ == "__main__":
    main()
