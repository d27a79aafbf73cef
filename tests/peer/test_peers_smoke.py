"""The real-peer fixtures work: a live PostgreSQL, a live Prometheus, promtool."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.peers.postgres import PostgresServer
from tests.peers.prometheus import StartPrometheus, promtool_check_metrics

pytestmark = pytest.mark.peer


def test_postgres_select_1(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert postgres_url.endswith("/opsagent_test")
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            assert conn.execute(text("SELECT current_database()")).scalar_one() == "opsagent_test"
            assert conn.execute(text("SHOW fsync")).scalar_one() == "off"
    finally:
        engine.dispose()


def test_pg_empty_url_is_fresh_and_dropped(
    pg_empty_url: str, postgres_url: str, postgres_server: PostgresServer
) -> None:
    name = pg_empty_url.rsplit("/", 1)[1]
    assert pg_empty_url != postgres_url
    engine = create_engine(pg_empty_url)
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
        assert inspect(engine).get_table_names() == ["t"]
    finally:
        engine.dispose()
    # The session server is shared: the per-test database lives beside opsagent_test.
    admin = create_engine(postgres_server.url("postgres"))
    try:
        with admin.connect() as conn:
            names = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        admin.dispose()
    assert {name, "opsagent_test"} <= names


def test_prometheus_scrapes_itself(start_prometheus: StartPrometheus) -> None:
    prom = start_prometheus(targets=[], scrape_self=True)
    own = prom.url.removeprefix("http://")
    result = prom.wait_for('up{job="opsagent"} == 1', timeout=30)
    assert [r["metric"]["instance"] for r in result] == [own]
    assert prom.wait_for('prometheus_build_info{job="opsagent"}')
    assert [t["health"] for t in prom.targets()] == ["up"]
    prom.stop()
    prom.stop()  # idempotent; the session teardown stops it once more


def test_promtool_check_metrics_valid() -> None:
    code, out = promtool_check_metrics(
        '# HELP opsagent_up Whether the asset answered.\n# TYPE opsagent_up gauge\nopsagent_up{asset="web1"} 1\n'
    )
    assert code == 0, out


def test_promtool_check_metrics_invalid() -> None:
    code, out = promtool_check_metrics("# TYPE x gauge\nx{asset=web1} 1\n")
    assert code != 0
    assert "error while linting" in out or "expected" in out, out
