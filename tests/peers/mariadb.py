"""A real MariaDB server for the session, on 127.0.0.1 and a free port.

Fixture:
    mariadb_server (session) -> MariaDBServer: host, port, socket, root_connect(), monitor user/password

The root account uses unix-socket auth (the test's own checks go through the socket); a
low-privilege monitoring account over TCP is made as collectors/mysql/default.yaml documents.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

INSTALL_HINT = "install the Debian package `mariadb-server` (bash scripts/test.sh does it)"
MONITOR_USER = "opsagent_monitor"
MONITOR_PASSWORD = "mon-Secret-2b9c"  # a test server's throwaway password


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        pytest.fail(f"`{name}` not found: {INSTALL_HINT}", pytrace=False)
    return path


@dataclass(frozen=True)
class MariaDBServer:
    daemon: Daemon
    base_dir: Path
    port: int
    host: str = LOCALHOST
    monitor_user: str = MONITOR_USER
    monitor_password: str = MONITOR_PASSWORD

    @property
    def socket(self) -> str:
        return str(self.base_dir / "mysqld.sock")

    def root_connect(self, **kwargs: Any) -> pymysql.connections.Connection[Any]:
        kwargs.setdefault("autocommit", True)
        return pymysql.connect(unix_socket=self.socket, user="root", connect_timeout=10, **kwargs)

    def stop(self) -> None:
        self.daemon.stop(timeout=30)


def _accepting(server_socket: str) -> bool:
    try:
        pymysql.connect(unix_socket=server_socket, user="root", connect_timeout=2).close()
        return True
    except pymysql.err.MySQLError:
        return False


def start_mariadb(server_id: int = 1, binlog: bool = False) -> MariaDBServer:
    """A new MariaDB in a temp dir with the monitoring account and ``appdb.jobs``; caller stops it.
    ``binlog`` turns on the binary log (a replication source)."""
    install_db, mariadbd = _binary("mariadb-install-db"), _binary("mariadbd")
    base = Path(tempfile.mkdtemp(prefix="opsagent-mariadb-"))
    pw = pwd.getpwnam("mysql")
    os.chown(base, pw.pw_uid, pw.pw_gid)
    port = free_port()
    conf = base / "my.cnf"
    conf.write_text(
        f"[mysqld]\nuser=mysql\ndatadir={base}/data\nsocket={base}/mysqld.sock\npid-file={base}/mysqld.pid\n"
        f"bind-address={LOCALHOST}\nport={port}\nskip-name-resolve\ninnodb_buffer_pool_size=32M\n"
        f"innodb_log_file_size=16M\nperformance_schema=OFF\nserver-id={server_id}\n"
        f"{'log-bin=mysql-bin' if binlog else 'skip-log-bin'}\n"
        f"log-error={base}/error.log\nsql_mode=STRICT_TRANS_TABLES\n"
    )
    res = subprocess.run(
        [install_db, f"--defaults-file={conf}", "--user=mysql", "--auth-root-authentication-method=socket",
         "--skip-test-db", f"--datadir={base}/data"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"mariadb-install-db failed: {res.stdout}{res.stderr}")
    daemon = Daemon("mariadb", [mariadbd, f"--defaults-file={conf}"], base / "console.log", cwd=base)
    server = MariaDBServer(daemon=daemon, base_dir=base, port=port)
    try:
        daemon.wait_ready(functools.partial(_accepting, server.socket), timeout=90)
        with server.root_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE USER '{MONITOR_USER}'@'127.0.0.1' IDENTIFIED BY '{MONITOR_PASSWORD}'")
            cur.execute(f"GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO '{MONITOR_USER}'@'127.0.0.1'")
            cur.execute("CREATE DATABASE appdb")
            cur.execute("CREATE TABLE appdb.jobs (id INT PRIMARY KEY) ENGINE=InnoDB")
    except BaseException:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    return server


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    server = start_mariadb()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)
