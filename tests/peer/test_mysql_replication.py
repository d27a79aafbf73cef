"""The mysql collector on a real MariaDB replica streaming from a real source: IO/SQL thread state,
seconds behind the source and log positions, checked against the replica's own SHOW SLAVE STATUS,
in sync, with a replicated write held back by a row lock (real lag) and with the SQL thread stopped."""

from __future__ import annotations

import time
from typing import Any

import pytest

from opsagent.collectors.base import Outcome, Sample
from tests.peer.dbhelpers import poll, value
from tests.peers.mariadb import MariaDBServer
from tests.peers.mariadb_replication import MariaDBPair
from tests.peers.ports import LOCALHOST

pytestmark = pytest.mark.peer


def asset(server: MariaDBServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setenv("OPSAGENT_T_MYSQL_PASSWORD", server.monitor_password)
    return {
        "kind": "database",
        "address": LOCALHOST,
        "port": server.port,
        "credentials": {"mysql": {"user": server.monitor_user, "password": "env:OPSAGENT_T_MYSQL_PASSWORD"}},
    }


def slave(result: Any, column: str) -> float:
    return value(result, f"mysql_slave_status_{column}", master_host=LOCALHOST)


def slave_series(samples: list[Sample]) -> set[str]:
    return {s.name for s in samples if s.name.startswith("mysql_slave_status_")}


def source_write(pair: MariaDBPair, *statements: str) -> None:
    with pair.source.root_connect() as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


async def test_replica_in_sync_matches_slave_status(mariadb_pair: MariaDBPair, monkeypatch: pytest.MonkeyPatch) -> None:
    source_write(
        mariadb_pair,
        "CREATE TABLE IF NOT EXISTS appdb.sync_t (id INT PRIMARY KEY)",
        "INSERT INTO appdb.sync_t VALUES (1)",
    )
    mariadb_pair.wait_caught_up()
    result = await poll(asset(mariadb_pair.replica, monkeypatch), "mysql")
    status = mariadb_pair.slave_status()
    assert result.outcome is Outcome.OK, result.message
    assert status["Slave_IO_Running"] == status["Slave_SQL_Running"] == "Yes"
    assert slave(result, "slave_io_running") == 1 and slave(result, "slave_sql_running") == 1
    assert slave(result, "seconds_behind_master") == status["Seconds_Behind_Master"] == 0
    assert slave(result, "master_port") == status["Master_Port"] == mariadb_pair.source.port
    assert slave(result, "read_master_log_pos") == status["Read_Master_Log_Pos"]
    assert slave(result, "exec_master_log_pos") == status["Exec_Master_Log_Pos"]
    assert slave(result, "master_server_id") == 1
    assert result.facts["replication"]["Master_Port"] == mariadb_pair.source.port
    # the source itself is no replica: no slave series there
    source = await poll(asset(mariadb_pair.source, monkeypatch), "mysql")
    assert source.outcome is Outcome.OK and not slave_series(source.samples)


async def test_held_back_write_shows_real_lag(mariadb_pair: MariaDBPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row lock on the replica holds the replicated UPDATE: seconds behind grows, positions differ."""
    source_write(
        mariadb_pair,
        "CREATE TABLE IF NOT EXISTS appdb.lag_t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
        "REPLACE INTO appdb.lag_t VALUES (1, 0)",
    )
    mariadb_pair.wait_caught_up()
    with mariadb_pair.replica.root_connect(autocommit=False) as blocker, blocker.cursor() as cur:
        cur.execute("SELECT v FROM appdb.lag_t WHERE id = 1 FOR UPDATE")
        source_write(mariadb_pair, "UPDATE appdb.lag_t SET v = v + 1 WHERE id = 1")
        time.sleep(2.5)
        result = await poll(asset(mariadb_pair.replica, monkeypatch), "mysql")
        status = mariadb_pair.slave_status()  # a moment later: lag only grew
        blocker.rollback()
    assert result.outcome is Outcome.OK, result.message
    assert slave(result, "slave_io_running") == 1 and slave(result, "slave_sql_running") == 1
    behind = slave(result, "seconds_behind_master")
    assert 2 <= behind <= int(status["Seconds_Behind_Master"])
    assert slave(result, "exec_master_log_pos") < slave(result, "read_master_log_pos")
    assert slave(result, "read_master_log_pos") == status["Read_Master_Log_Pos"]
    assert mariadb_pair.wait_caught_up()["Seconds_Behind_Master"] == 0


async def test_stopped_sql_thread(mariadb_pair: MariaDBPair, monkeypatch: pytest.MonkeyPatch) -> None:
    with mariadb_pair.replica.root_connect() as admin, admin.cursor() as cur:
        cur.execute("STOP SLAVE SQL_THREAD")
        try:
            source_write(
                mariadb_pair, "CREATE TABLE IF NOT EXISTS appdb.stop_t (id INT)", "INSERT INTO appdb.stop_t VALUES (1)"
            )
            _, pos = mariadb_pair.source_position()
            deadline = time.monotonic() + 20
            while int(mariadb_pair.slave_status()["Read_Master_Log_Pos"]) < pos:
                assert time.monotonic() < deadline, "IO thread did not read the write"
                time.sleep(0.1)
            result = await poll(asset(mariadb_pair.replica, monkeypatch), "mysql")
            status = mariadb_pair.slave_status()
        finally:
            cur.execute("START SLAVE SQL_THREAD")
    assert result.outcome is Outcome.OK, result.message
    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"]) == ("Yes", "No")
    assert slave(result, "slave_io_running") == 1 and slave(result, "slave_sql_running") == 0
    assert status["Seconds_Behind_Master"] is None  # unknown while the SQL thread is stopped: no series
    assert "mysql_slave_status_seconds_behind_master" not in slave_series(result.samples)
    assert slave(result, "read_master_log_pos") == pos > slave(result, "exec_master_log_pos")
    assert mariadb_pair.wait_caught_up()["Slave_SQL_Running"] == "Yes"
