"""The mysql collector against a real MariaDB with a low-privilege account: figures checked against
SHOW GLOBAL STATUS / VARIABLES; replication threads; wrong password, dead port, SLEEP and LOCK TABLES."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from opsagent.collectors.base import Outcome
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import Exposition
from tests.peer.dbhelpers import make_poller, poll, value
from tests.peers.mariadb import MariaDBServer
from tests.peers.ports import LOCALHOST, free_port

pytestmark = pytest.mark.peer


def asset(port: int, monkeypatch: pytest.MonkeyPatch, password: str) -> dict[str, object]:
    monkeypatch.setenv("OPSAGENT_T_MYSQL_PASSWORD", password)
    return {
        "kind": "database",
        "address": LOCALHOST,
        "port": port,
        "credentials": {"mysql": {"user": "opsagent_monitor", "password": "env:OPSAGENT_T_MYSQL_PASSWORD"}},
    }


def server_view(server: MariaDBServer, sql: str) -> dict[str, str]:
    with server.root_connect() as conn, conn.cursor() as cur:
        cur.execute(sql)
        return {str(k): str(v) for k, v in cur.fetchall()}


@pytest.fixture
def sleepers(mariadb_server: MariaDBServer) -> Iterator[list[Any]]:
    conns = [mariadb_server.root_connect() for _ in range(4)]
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


async def test_figures_match_the_server(
    mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch, sleepers: list[Any]
) -> None:
    result = await poll(asset(mariadb_server.port, monkeypatch, mariadb_server.monitor_password), "mysql")
    status = server_view(mariadb_server, "SHOW GLOBAL STATUS")
    variables = server_view(mariadb_server, "SHOW GLOBAL VARIABLES")
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "mysql_up") == 1
    # each view counts its own connection: the poll's then (closed since), the checker's now
    assert value(result, "mysql_global_status_threads_connected") == int(status["Threads_connected"])
    assert value(result, "mysql_global_status_threads_connected") == len(sleepers) + 1
    assert value(result, "mysql_global_variables_max_connections") == int(variables["max_connections"])
    assert value(result, "mysql_global_variables_innodb_buffer_pool_size") == 32 * 1024 * 1024
    assert value(result, "mysql_global_status_buffer_pool_pages", state="total") == int(
        status["Innodb_buffer_pool_pages_total"]
    )
    assert value(result, "mysql_global_status_slow_queries") == int(status["Slow_queries"])
    assert value(result, "mysql_global_status_aborted_connects") <= int(status["Aborted_connects"])
    assert 0 < value(result, "mysql_global_status_queries") <= int(status["Queries"])
    assert value(result, "mysql_global_status_commands_total", command="select") <= int(status["Com_select"])
    info = [s for s in result.samples if s.name == "mysql_version_info"]
    assert dict(info[0].labels)["version"] == variables["version"]
    assert result.facts["variables"]["max_connections"] == variables["max_connections"]
    assert result.facts["server"]["flavor"] == "mariadb"
    assert not [s for s in result.samples if s.name.startswith("mysql_slave_status_")]  # not a replica


async def test_replication_thread_states(mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica whose source is down: IO thread 'Connecting' (0), SQL thread running (1)."""
    with mariadb_server.root_connect() as conn, conn.cursor() as cur:
        cur.execute(
            f"CHANGE MASTER TO MASTER_HOST='{LOCALHOST}', MASTER_PORT={free_port()}, MASTER_USER='repl', "
            "MASTER_PASSWORD='x', MASTER_CONNECT_RETRY=60"
        )
        cur.execute("START SLAVE")
        try:
            time.sleep(1.0)
            result = await poll(asset(mariadb_server.port, monkeypatch, mariadb_server.monitor_password), "mysql")
            cur.execute("SHOW SLAVE STATUS")
            columns = [d[0] for d in cur.description]
            row = dict(zip(columns, cur.fetchone(), strict=True))
        finally:
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
    assert result.outcome is Outcome.OK, result.message
    io = value(result, "mysql_slave_status_slave_io_running", master_host=LOCALHOST)
    sql = value(result, "mysql_slave_status_slave_sql_running", master_host=LOCALHOST)
    assert (io, sql) == (
        1.0 if row["Slave_IO_Running"] == "Yes" else 0.0,
        1.0 if row["Slave_SQL_Running"] == "Yes" else 0.0,
    )
    assert (io, sql) == (0.0, 1.0)
    assert value(result, "mysql_slave_status_master_port") == row["Master_Port"]
    assert result.facts["replication"]["Slave_IO_Running"] == row["Slave_IO_Running"]


async def test_wrong_password_is_an_auth_failure(
    mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await poll(asset(mariadb_server.port, monkeypatch, "wrong-pw-9"), "mysql", timeout=10)
    assert result.outcome is Outcome.FAILED and result.reason == "auth", result.message
    assert "wrong-pw-9" not in result.message


async def test_stopped_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    result = await poll(asset(free_port(), monkeypatch, "x"), "mysql", timeout=10)
    assert result.outcome is Outcome.UNREACHABLE and result.reason == "refused", result.message
    assert [(s.name, s.value) for s in result.samples] == [("mysql_up", 0.0)]


def shipped_queries() -> list[dict[str, object]]:
    import yaml

    from tests.peer.dbhelpers import ROOT

    data = yaml.safe_load((ROOT / "collectors" / "mysql" / "default.yaml").read_text(encoding="utf-8"))
    return list(data["options"]["queries"])


async def test_sleep_hits_the_statement_limit(mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query past max_statement_time is stopped by the server and counted; the poll stays OK."""
    query = {"name": "slow", "sql": "SELECT SLEEP(30) AS s", "metrics": {"s": {"name": "x_s"}}}
    started = time.monotonic()
    result = await poll(
        asset(mariadb_server.port, monkeypatch, mariadb_server.monitor_password),
        "mysql",
        timeout=15,
        options={"statement_timeout": "1s", "queries": [query, *shipped_queries()]},
    )
    assert time.monotonic() - started < 8
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "mysql_up") == 1 and value(result, "mysql_exporter_query_errors_total", query="slow") == 1
    assert result.facts["query_errors"]["slow"].startswith("timeout: (1969)")
    assert value(result, "mysql_global_status_uptime") > 0


async def test_locked_table_times_out_one_query_and_the_rest_is_reported(
    mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOCK TABLES … WRITE held by another session: the query reading the table hits the lock wait
    timeout and is counted in mysql_exporter_query_errors_total; mysql_up stays 1 and every other
    query of the shipped profile is still reported."""
    with mariadb_server.root_connect() as admin, admin.cursor() as cur:
        cur.execute("GRANT SELECT ON appdb.jobs TO 'opsagent_monitor'@'127.0.0.1'")
    query = {"name": "jobs", "sql": "SELECT COUNT(*) AS n FROM appdb.jobs", "metrics": {"n": {"name": "app_jobs"}}}
    options = {"lock_wait_timeout": "1s", "statement_timeout": "3s", "queries": [query, *shipped_queries()]}
    poller = make_poller()
    model = Asset.model_validate(
        {"name": "my-locked", **asset(mariadb_server.port, monkeypatch, mariadb_server.monitor_password)}
    )
    spec = CollectorSpec(name="mysql", timeout=15, options=options)
    holder = mariadb_server.root_connect()
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES appdb.jobs WRITE")
        started = time.monotonic()
        results = [await poller.poll(model, spec) for _ in range(2)]
        elapsed = time.monotonic() - started
    finally:
        with holder.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        holder.close()
    assert elapsed < 12
    for polls, result in enumerate(results, start=1):
        assert result.outcome is Outcome.OK, result.message
        assert value(result, "mysql_up") == 1
        assert value(result, "mysql_exporter_query_errors_total", query="jobs") == polls
        assert value(result, "mysql_exporter_query_errors_total", query="global_status") == 0
        assert value(result, "mysql_exporter_last_scrape_error") == 1
        assert value(result, "mysql_exporter_collector_success", collector="jobs") == 0
        assert value(result, "mysql_exporter_collector_success", collector="global_status") == 1
        assert not [s for s in result.samples if s.name == "app_jobs"]
        assert result.facts["query_errors"]["jobs"].startswith("timeout: (1205)"), result.facts["query_errors"]
        assert value(result, "mysql_global_status_uptime") > 0
        assert value(result, "mysql_global_variables_max_connections") > 0
    text = Exposition(poller.metrics, process=False).render(None)[0].decode()  # what /metrics serves
    assert 'mysql_exporter_query_errors_total{query="jobs",asset="my-locked"} 2.0' in text
    assert 'opsagent_up{asset="my-locked",collector="mysql"} 1.0' in text
    healed = await poller.poll(model, spec)
    assert healed.outcome is Outcome.OK and value(healed, "mysql_exporter_last_scrape_error") == 0
    assert value(healed, "app_jobs") == 0
