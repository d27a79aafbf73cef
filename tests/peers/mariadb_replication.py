"""A real MariaDB replication pair for the session: a source (binary log on, a replication user)
and a replica streaming from it, both on 127.0.0.1 and free ports.

Fixture:
    mariadb_pair (session) -> MariaDBPair: .source, .replica (MariaDBServer), .source_position()

Each server has the low-privilege monitoring account of collectors/mysql/default.yaml (made before
replication starts, so nothing made by the set-up is replicated twice).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.peers.mariadb import MariaDBServer, start_mariadb
from tests.peers.ports import LOCALHOST

REPL_USER = "opsagent_repl"
REPL_PASSWORD = "repl-Secret-5e1d"  # a test server's throwaway password


@dataclass(frozen=True)
class MariaDBPair:
    source: MariaDBServer
    replica: MariaDBServer

    def source_position(self) -> tuple[str, int]:
        with self.source.root_connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row = cur.fetchone()
            assert row is not None, "source has no binary log"
            return str(row[0]), int(row[1])

    def slave_status(self) -> dict[str, Any]:
        """The replica's own ``SHOW SLAVE STATUS`` row, by column name."""
        with self.replica.root_connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
            assert row is not None, "replica has no replication configured"
            return dict(zip([d[0] for d in cur.description], row, strict=True))

    def wait_caught_up(self, timeout: float = 30) -> dict[str, Any]:
        """Until the replica has read and applied everything the source has written."""
        file, pos = self.source_position()
        deadline = time.monotonic() + timeout
        while True:
            status = self.slave_status()
            if status["Relay_Master_Log_File"] == file and int(status["Exec_Master_Log_Pos"]) >= pos:
                return status
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica did not catch up: {status.get('Last_Error') or status}")
            time.sleep(0.1)


def start_pair() -> MariaDBPair:
    source = start_mariadb(server_id=1, binlog=True)
    try:
        replica = start_mariadb(server_id=2)
    except BaseException:
        _drop(source)
        raise
    pair = MariaDBPair(source, replica)
    try:
        with source.root_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{REPL_USER}'@'127.0.0.1' IDENTIFIED BY '{REPL_PASSWORD}'")
            cur.execute(f"GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'127.0.0.1'")
        file, pos = pair.source_position()  # from here on: what follows the set-up of both servers
        with replica.root_connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"CHANGE MASTER TO MASTER_HOST='{LOCALHOST}', MASTER_PORT={source.port}, MASTER_USER='{REPL_USER}', "
                f"MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_LOG_FILE='{file}', MASTER_LOG_POS={pos}, "
                "MASTER_CONNECT_RETRY=1"
            )
            cur.execute("START SLAVE")
        deadline = time.monotonic() + 30
        while pair.slave_status()["Slave_IO_Running"] != "Yes":
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica IO thread did not connect: {pair.slave_status()['Last_IO_Error']}")
            time.sleep(0.1)
    except BaseException:
        _drop(replica)
        _drop(source)
        raise
    return pair


def _drop(server: MariaDBServer) -> None:
    server.stop()
    shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb_pair() -> Iterator[MariaDBPair]:
    pair = start_pair()
    try:
        yield pair
    finally:
        _drop(pair.replica)
        _drop(pair.source)
