"""A real PostgreSQL server for the session, on 127.0.0.1 and a free port.

Fixtures:
    postgres_server  (session)  -> PostgresServer: host, port, user, url(db), dsn(db), create/drop
    postgres_url     (session)  -> str: SQLAlchemy URL of the database ``opsagent_test``
    pg_empty_url     (function) -> str: SQLAlchemy URL of a fresh database, dropped after the test

The postmaster runs in the foreground under Popen (not daemonized by ``pg_ctl start``), so it
dies with the test process even when that is SIGKILLed; it is stopped with SIGINT, which is
PostgreSQL's fast shutdown (= ``pg_ctl stop -m fast``).
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

PG_USER = "postgres"
TEST_DB = "opsagent_test"
PG_LIB = Path("/usr/lib/postgresql")
INSTALL_HINT = "install the Debian package `postgresql` (bash scripts/test.sh does it)"
# A throwaway cluster: durability off for speed.
SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def find_bin_dir() -> Path:
    """The bin dir of the newest installed server (/usr/lib/postgresql/<major>/bin)."""
    found = [p for p in PG_LIB.glob("*/bin") if (p / "initdb").exists() and (p / "postgres").exists()]
    if not found:
        pytest.fail(f"PostgreSQL server binaries not found in {PG_LIB}/*/bin: {INSTALL_HINT}", pytrace=False)
    return max(found, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))


def _run_as() -> str | None:
    """The server refuses to run as root: as root, run it as the postgres user."""
    return PG_USER if os.geteuid() == 0 else None


@dataclass(frozen=True)
class PostgresServer:
    """A running server: trust auth for ``user`` over TCP on host:port."""

    daemon: Daemon
    base_dir: Path  # temp dir: data/, the unix socket, server.log
    port: int
    host: str = LOCALHOST
    user: str = PG_USER

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.daemon.log_path

    def url(self, dbname: str = TEST_DB, driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1:PORT/opsagent_test."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = TEST_DB) -> str:
        """libpq conninfo for psycopg.connect()."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname} connect_timeout=10"

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        # FORCE: a test that forgot to dispose of its engine must not block the drop.
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        self.daemon.stop()


def _initdb(bin_dir: Path) -> Path:
    """A new cluster in a temp dir owned by the server's user; returns the temp dir."""
    base = Path(tempfile.mkdtemp(prefix="opsagent-pg-"))
    user = _run_as()
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    argv = [str(bin_dir / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", PG_USER]
    argv += ["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"]
    res = subprocess.run(
        argv,
        cwd=base,
        user=user,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"initdb failed (exit {res.returncode}): {' '.join(argv)}\n{res.stdout}{res.stderr}")
    return base


def _accepting(host: str, port: int) -> bool:
    try:
        with psycopg.connect(host=host, port=port, user=PG_USER, dbname="postgres", connect_timeout=2):
            return True
    except psycopg.OperationalError:  # refused, or "the database system is starting up"
        return False


def start_postgres(attempts: int = 3) -> PostgresServer:
    """initdb a cluster in a temp dir and start it; retried on another port if the port was taken."""
    bin_dir = find_bin_dir()
    base = _initdb(bin_dir)
    for attempt in range(1, attempts + 1):
        port = free_port()
        argv = [str(bin_dir / "postgres"), "-D", str(base / "data"), "-p", str(port), "-k", str(base)]
        for setting in (f"listen_addresses={LOCALHOST}", *SERVER_SETTINGS):
            argv += ["-c", setting]
        daemon = Daemon("postgres", argv, base / "server.log", cwd=base, user=_run_as(), stop_signal=signal.SIGINT)
        try:
            daemon.wait_ready(functools.partial(_accepting, LOCALHOST, port), timeout=60)
        except RuntimeError:
            daemon.stop()
            if attempt == attempts:
                shutil.rmtree(base, ignore_errors=True)
                raise
            continue
        return PostgresServer(daemon=daemon, base_dir=base, port=port)
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (trust auth, user postgres, no fsync)."""
    server = start_postgres()
    try:
        server.create_database(TEST_DB)
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy URL of the session database: postgresql+psycopg://postgres@127.0.0.1:PORT/opsagent_test."""
    return postgres_server.url(TEST_DB)


@pytest.fixture
def pg_empty_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a new empty database, for this test only (dropped afterwards)."""
    name = f"opsagent_t_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
