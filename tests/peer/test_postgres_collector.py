"""The postgres collector against a real primary + streaming standby: every figure checked against
the server's own view; wrong password, dead port, pg_sleep and LOCK TABLE give clear failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from opsagent.collectors.base import Outcome
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import Exposition
from tests.peer.dbhelpers import make_poller, poll, value, values
from tests.peers.pg_replication import PgPair
from tests.peers.ports import LOCALHOST, free_port

pytestmark = pytest.mark.peer


def monitor_asset(server_port: int, monkeypatch: pytest.MonkeyPatch, password: str) -> dict[str, object]:
    monkeypatch.setenv("OPSAGENT_T_PG_PASSWORD", password)
    return {
        "kind": "database",
        "address": LOCALHOST,
        "port": server_port,
        "credentials": {"postgres": {"user": "opsagent_monitor", "password": "env:OPSAGENT_T_PG_PASSWORD"}},
    }


@pytest.fixture
def idle_sessions(pg_pair: PgPair) -> Iterator[list[psycopg.Connection]]:
    conns = [psycopg.connect(pg_pair.primary.dsn("appdb"), autocommit=True) for _ in range(3)]
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


def scalar(dsn: str, sql: str) -> object:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql.encode()).fetchone()
        assert row is not None
        return row[0]


async def test_primary_figures_match_the_server(
    pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch, idle_sessions: list[psycopg.Connection]
) -> None:
    dsn = pg_pair.primary.dsn("postgres")
    result = await poll(monitor_asset(pg_pair.primary.port, monkeypatch, pg_pair.monitor_password), "postgres")
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "pg_up") == 1
    assert value(result, "pg_replication_is_replica") == 0
    server_idle = scalar(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'appdb' AND state = 'idle'")
    assert server_idle == len(idle_sessions) == 3
    assert value(result, "pg_stat_activity_count", datname="appdb", state="idle") == server_idle
    assert value(result, "pg_stat_activity_count", datname="appdb", state="active") == 0
    assert value(result, "pg_settings_max_connections") == int(str(scalar(dsn, "SHOW max_connections")))
    shared = int(str(scalar(dsn, "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")))
    assert value(result, "pg_settings_shared_buffers_bytes") == shared
    assert value(result, "pg_database_size_bytes", datname="appdb") == scalar(dsn, "SELECT pg_database_size('appdb')")
    frozen = scalar(dsn, "SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'appdb'")
    assert abs(value(result, "pg_database_wraparound_age_datfrozenxid", datname="appdb") - int(str(frozen))) <= 5
    commits = scalar(dsn, "SELECT xact_commit FROM pg_stat_database WHERE datname = 'appdb'")
    assert 0 < value(result, "pg_stat_database_xact_commit", datname="appdb") <= int(str(commits))
    assert value(result, "pg_stat_database_deadlocks", datname="appdb") == 0
    # the standby streams from this primary
    assert values(result, "pg_stat_replication_pg_wal_lsn_diff", application_name="standby1", state="streaming")
    assert result.facts["replication"]["role"] == "primary"
    assert result.facts["settings"]["max_connections"] == str(scalar(dsn, "SHOW max_connections"))
    assert result.facts["server"]["version_num"] >= 100000
    assert "skipped_queries" not in result.facts


async def test_long_transaction_and_waiting_lock_are_seen(pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = pg_pair.primary.dsn("appdb")
    with psycopg.connect(dsn) as holder:
        holder.execute("CREATE TABLE IF NOT EXISTS lockme (id int)")
        holder.commit()
        holder.execute("LOCK TABLE lockme IN ACCESS EXCLUSIVE MODE")
        waiter = threading.Thread(target=scalar, args=(dsn, "SELECT count(*) FROM lockme"))
        waiter.start()  # blocks behind the lock until the holder rolls back
        time.sleep(1.2)
        result = await poll(monitor_asset(pg_pair.primary.port, monkeypatch, pg_pair.monitor_password), "postgres")
        holder.rollback()
        waiter.join(10)
    assert result.outcome is Outcome.OK, result.message
    assert sum(values(result, "pg_locks_waiting_count", datname="appdb")) >= 1
    assert value(result, "pg_stat_activity_oldest_xact_seconds") >= 1.0
    assert value(result, "pg_stat_activity_oldest_query_seconds") >= 1.0
    assert value(result, "pg_stat_activity_max_tx_duration", datname="appdb", state="idle in transaction") >= 1.0


async def test_standby_lag_in_bytes_and_seconds(pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch) -> None:
    standby, primary = pg_pair.standby.dsn("postgres"), pg_pair.primary.dsn("appdb")
    asset = monitor_asset(pg_pair.standby.port, monkeypatch, pg_pair.monitor_password)
    with psycopg.connect(standby, autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            with psycopg.connect(primary, autocommit=True) as writer:
                writer.execute("CREATE TABLE IF NOT EXISTS lagtest (x int)")
                writer.execute("INSERT INTO lagtest SELECT generate_series(1, 20000)")
                target = writer.execute("SELECT pg_current_wal_lsn()").fetchone()
            assert target is not None
            deadline = time.monotonic() + 30
            while scalar(standby, f"SELECT pg_last_wal_receive_lsn() >= '{target[0]}'::pg_lsn") is not True:
                assert time.monotonic() < deadline, "standby did not receive the WAL"
                time.sleep(0.1)
            time.sleep(1.1)
            result = await poll(asset, "postgres")
            own_bytes = scalar(standby, "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())")
            own_secs = scalar(standby, "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())")
            primary_result = await poll(
                monitor_asset(pg_pair.primary.port, monkeypatch, pg_pair.monitor_password), "postgres"
            )
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "pg_replication_is_replica") == 1
    assert result.facts["replication"]["role"] == "standby"
    assert value(result, "pg_replication_lag_bytes") == float(str(own_bytes)) > 100_000
    assert 1.0 <= value(result, "pg_replication_lag_seconds") <= float(str(own_secs))
    lag_on_primary = value(primary_result, "pg_stat_replication_pg_wal_lsn_diff", application_name="standby1")
    assert lag_on_primary >= float(str(own_bytes))


async def test_wrong_password_is_an_auth_failure(pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    result = await poll(monitor_asset(pg_pair.primary.port, monkeypatch, "wrong-pass-123"), "postgres", timeout=10)
    assert result.outcome is Outcome.FAILED and result.reason == "auth", result.message
    assert "wrong-pass-123" not in result.message and pg_pair.monitor_password not in result.message
    assert time.monotonic() - started < 10


async def test_stopped_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    result = await poll(monitor_asset(free_port(), monkeypatch, "x"), "postgres", timeout=10)
    assert result.outcome is Outcome.UNREACHABLE and result.reason == "refused", result.message
    assert [(s.name, s.value) for s in result.samples] == [("pg_up", 0.0)]  # as postgres_exporter says it


async def test_missing_secret_is_a_credentials_failure(pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = monitor_asset(pg_pair.primary.port, monkeypatch, "x")
    monkeypatch.delenv("OPSAGENT_T_PG_PASSWORD")
    result = await poll(asset, "postgres")
    assert result.reason == "credentials" and "OPSAGENT_T_PG_PASSWORD" in result.message


SLEEP_QUERY = {"name": "slow", "sql": "SELECT 1 AS one FROM pg_sleep(30)", "metrics": {"one": {"name": "x_one"}}}


def shipped_queries(collector: str) -> list[dict[str, object]]:
    import yaml

    from tests.peer.dbhelpers import ROOT

    data = yaml.safe_load((ROOT / "collectors" / collector / "default.yaml").read_text(encoding="utf-8"))
    return list(data["options"]["queries"])


async def test_pg_sleep_hits_the_statement_timeout(pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query past statement_timeout is cancelled by the server and counted; the poll stays OK."""
    asset = monitor_asset(pg_pair.primary.port, monkeypatch, pg_pair.monitor_password)
    started = time.monotonic()
    options = {"statement_timeout": "1s", "queries": [SLEEP_QUERY, *shipped_queries("postgres")]}
    result = await poll(asset, "postgres", timeout=15, options=options)
    assert time.monotonic() - started < 8
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "pg_up") == 1 and value(result, "pg_exporter_query_errors_total", query="slow") == 1
    assert "slow (timeout" in result.message and "statement timeout" in result.message
    assert value(result, "pg_postmaster_uptime_seconds") > 0


async def test_locked_table_times_out_one_query_and_the_rest_is_reported(
    pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table held by LOCK TABLE … ACCESS EXCLUSIVE in another session: the query reading it hits
    lock_timeout and is counted in pg_exporter_query_errors_total; pg_up stays 1 (the server is up
    and answers) and every other query of the shipped profile is still reported, poll after poll."""
    dsn = pg_pair.primary.dsn("appdb")
    query = {
        "name": "jobs",
        "sql": "SELECT count(*) AS n FROM public.locked_jobs",
        "metrics": {"n": {"name": "app_jobs"}},
    }
    options = {"dbname": "appdb", "lock_timeout": "1s", "statement_timeout": "3s"}
    options["queries"] = [query, *shipped_queries("postgres")]
    poller = make_poller()
    model = Asset.model_validate({"name": "pg-locked", **monitor_asset(pg_pair.primary.port, monkeypatch, "")})
    monkeypatch.setenv("OPSAGENT_T_PG_PASSWORD", pg_pair.monitor_password)
    spec = CollectorSpec(name="postgres", timeout=15, options=options)
    with psycopg.connect(dsn) as holder:
        holder.execute("CREATE TABLE IF NOT EXISTS locked_jobs (id int)")
        holder.execute("GRANT SELECT ON locked_jobs TO opsagent_monitor")
        holder.commit()
        holder.execute("LOCK TABLE locked_jobs IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        results = [await poller.poll(model, spec) for _ in range(2)]
        elapsed = time.monotonic() - started
        holder.rollback()
    assert elapsed < 12
    for polls, result in enumerate(results, start=1):
        assert result.outcome is Outcome.OK, result.message
        assert value(result, "pg_up") == 1
        assert value(result, "pg_exporter_query_errors_total", query="jobs") == polls
        assert value(result, "pg_exporter_query_errors_total", query="stat_database") == 0
        assert value(result, "pg_exporter_last_scrape_error") == 1
        # postgres_exporter's own per-collector gauge, one per query here
        assert value(result, "pg_scrape_collector_success", collector="jobs") == 0
        assert value(result, "pg_scrape_collector_success", collector="stat_database") == 1
        assert not values(result, "app_jobs")
        assert result.facts["query_errors"]["jobs"].startswith("timeout: ")
        assert value(result, "pg_stat_database_numbackends", datname="appdb") >= 1
        assert value(result, "pg_postmaster_uptime_seconds") > 0
        assert values(result, "pg_locks_count", datname="appdb", mode="AccessExclusiveLock")
    text = Exposition(poller.metrics, process=False).render(None)[0].decode()  # what /metrics serves
    assert 'pg_exporter_query_errors_total{query="jobs",asset="pg-locked"} 2.0' in text
    assert 'opsagent_up{asset="pg-locked",collector="postgres"} 1.0' in text  # no TargetDown
    with psycopg.connect(dsn) as check:  # the lock is gone: the next poll is clean again
        check.execute("SELECT 1")
    healed = await poller.poll(model, spec)
    assert healed.outcome is Outcome.OK and value(healed, "pg_exporter_last_scrape_error") == 0
    assert value(healed, "app_jobs") == 0 and value(healed, "pg_exporter_query_errors_total", query="jobs") == 2
