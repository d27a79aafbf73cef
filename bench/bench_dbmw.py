"""CPU seconds per collection: each database collector beside the bare driver running the same
query set (the exporter's work without opsagent), in the same run, against real local servers.
opsagent is measured through ``collect()`` as the poller calls it (fresh options dict per poll, a
worker thread), the bare side connects, runs the version-applicable queries and fetches every row;
the two alternate in blocks so load from other processes hits both alike.

Run: ``.venv/bin/python bench/bench_dbmw.py [rounds]``. Prints figures next to the goal
(overhead ≤ 1.5× the bare driver); asserts nothing. Needs the Debian packages of scripts/test.sh.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import redis

from opsagent.collectors import options_models
from opsagent.collectors.mysql import MySQLCollector, MySQLOptions, connect_args, session_limits
from opsagent.collectors.parsers.dbstatus import mysql_version_number
from opsagent.collectors.postgres import PostgresCollector, PostgresOptions, conninfo
from opsagent.collectors.profiles import load_profiles
from opsagent.collectors.redis import RedisCollector
from opsagent.gctune import tune_for_polling
from opsagent.inventory.model import Asset, CollectorSpec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.peers.mariadb import start_mariadb  # noqa: E402
from tests.peers.postgres import start_postgres  # noqa: E402
from tests.peers.redis import PASSWORD, start_redis  # noqa: E402

GOAL = 1.5


def compare(bare: Callable[[], object], ours: Callable[[], object], rounds: int) -> tuple[float, float]:
    """CPU seconds per call of each, in alternating blocks so drift on a shared machine hits both."""
    bare()  # warm up (imports, first connection, caches)
    ours()
    spent = [0.0, 0.0]
    block = 10
    for _ in range(max(1, rounds // block)):
        for i, fn in enumerate((bare, ours)):
            start = time.process_time()
            for _ in range(block):
                fn()
            spent[i] += time.process_time() - start
    calls = max(1, rounds // block) * block
    return spent[0] / calls, spent[1] / calls


def through_collect(collector: Any, asset: Asset, options: dict[str, Any]) -> Callable[[], None]:
    """The production path: ``collect()`` with a fresh options dict per poll (as the poller merges
    profile and asset options each time), run in a thread by asyncio."""
    loop = asyncio.new_event_loop()

    def ours() -> None:
        spec = CollectorSpec(name=collector.name, options=dict(options))
        result = loop.run_until_complete(collector.collect(asset, spec, {}))
        assert result.ok and not result.message, result.message

    return ours


Figures = tuple[str, float, float]  # case, bare CPU s/poll, opsagent CPU s/poll


def both_cases(
    collector: Any, asset: Asset, options: dict[str, Any], bare: Callable[[], None], rounds: int
) -> list[Figures]:
    """As polled (rows unchanged since the last poll reuse their conversion) and the worst case
    (every query's rows differ from the last poll's: everything converted)."""
    ours = through_collect(collector, asset, options)

    def ours_no_reuse() -> None:
        collector._runner.forget()
        ours()

    return [("", *compare(bare, ours, rounds)), (" (no reuse)", *compare(bare, ours_no_reuse, rounds))]


def profile_options(collector: str) -> dict[str, Any]:
    models = options_models()
    return dict(load_profiles([ROOT], models)[(collector, "default")].options)


def bench_postgres(rounds: int) -> list[Figures]:
    server = start_postgres()
    try:
        asset = Asset(name="pg", address=server.host, port=server.port)
        raw = profile_options("postgres")
        options = PostgresOptions.model_validate(raw)

        def bare() -> None:  # what postgres_exporter's driver does: connect, run the queries, read rows
            with psycopg.connect(autocommit=True, **conninfo(asset, options)) as conn:
                version = conn.info.server_version
                for query in options.queries:
                    if query.applies_to(version):
                        conn.execute(query.sql.encode()).fetchall()

        return both_cases(PostgresCollector(), asset, raw, bare, rounds)
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


def bench_mysql(rounds: int) -> list[Figures]:
    server = start_mariadb()
    try:
        os.environ["BENCH_MYSQL_PASSWORD"] = server.monitor_password
        creds = {"mysql": {"user": server.monitor_user, "password": "env:BENCH_MYSQL_PASSWORD"}}
        asset = Asset(name="my", address=server.host, port=server.port, credentials=creds)
        raw = profile_options("mysql")
        options = MySQLOptions.model_validate(raw)

        def bare() -> None:
            conn = pymysql.connect(**connect_args(asset, options))
            try:
                with conn.cursor() as cur:
                    for statement in session_limits(conn.get_server_info() or "", options):
                        cur.execute(statement)
                    version = mysql_version_number(conn.get_server_info() or "")
                    for query in options.queries:
                        if query.applies_to(version):
                            cur.execute(query.sql)
                            cur.fetchall()
            finally:
                conn.close()

        return both_cases(MySQLCollector(), asset, raw, bare, rounds)
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


def bench_redis(rounds: int) -> list[Figures]:
    base = Path(tempfile.mkdtemp(prefix="opsagent-bench-redis-"))
    server = start_redis(base, "primary")
    try:
        os.environ["BENCH_REDIS_PASSWORD"] = PASSWORD
        asset = Asset(
            name="rd",
            address=server.host,
            port=server.port,
            credentials={"redis": {"password": "env:BENCH_REDIS_PASSWORD"}},
        )
        raw = profile_options("redis")

        def bare() -> None:  # redis_exporter's work: connect, AUTH, INFO, parse (redis-py's own parser)
            client = redis.Redis(host=server.host, port=server.port, password=PASSWORD, socket_timeout=5)
            client.info()
            client.close()

        return [("", *compare(bare, through_collect(RedisCollector(), asset, raw), rounds))]
    finally:
        server.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    tune_for_polling()  # as `opsagent serve` does
    print(f"CPU seconds per collection, {rounds} rounds each, same run (goal: opsagent ≤ {GOAL}× bare driver)")
    print(f"{'collector':<20} {'bare driver':>12} {'opsagent':>12} {'ratio':>7}  verdict")
    for name, bench in (("postgres", bench_postgres), ("mysql", bench_mysql), ("redis", bench_redis)):
        for case, bare, ours in bench(rounds):
            ratio = ours / bare if bare else float("inf")
            verdict = "meets goal" if ratio <= GOAL else "ABOVE GOAL"
            print(f"{name + case:<20} {bare * 1000:>10.2f}ms {ours * 1000:>10.2f}ms {ratio:>6.2f}×  {verdict}")


if __name__ == "__main__":
    main()
