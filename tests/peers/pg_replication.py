"""A PostgreSQL primary and a streaming-replication standby (pg_basebackup -R), on 127.0.0.1.

Fixture:
    pg_pair (session) -> PgPair: .primary, .standby (PostgresServer), .monitor_user, .monitor_password

The primary has a low-privilege monitoring role (``pg_monitor``, password over scram-sha-256, as the
profile documents); the superuser ``postgres`` keeps trust auth for the test's own checks.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.postgres import SERVER_SETTINGS, PostgresServer, _accepting, _initdb, _run_as, find_bin_dir
from tests.peers.process import Daemon

MONITOR_USER = "opsagent_monitor"
MONITOR_PASSWORD = "mon-Secret-7f3a"  # a test server's throwaway password
HBA = f"""\
local all all trust
host all {MONITOR_USER} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


@dataclass(frozen=True)
class PgPair:
    primary: PostgresServer
    standby: PostgresServer
    monitor_user: str = MONITOR_USER
    monitor_password: str = MONITOR_PASSWORD


def _start(bin_dir: Path, base: Path, name: str) -> PostgresServer:
    port = free_port()
    argv = [str(bin_dir / "postgres"), "-D", str(base / "data"), "-p", str(port), "-k", str(base)]
    for setting in (f"listen_addresses={LOCALHOST}", *SERVER_SETTINGS, "password_encryption=scram-sha-256"):
        argv += ["-c", setting]
    daemon = Daemon(name, argv, base / "server.log", cwd=base, user=_run_as(), stop_signal=signal.SIGINT)
    daemon.wait_ready(functools.partial(_accepting, LOCALHOST, port), timeout=60)
    return PostgresServer(daemon=daemon, base_dir=base, port=port)


def _basebackup(bin_dir: Path, primary: PostgresServer) -> Path:
    base = Path(tempfile.mkdtemp(prefix="opsagent-pgstandby-"))
    user = _run_as()
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    argv = [
        str(bin_dir / "pg_basebackup"),
        "-D",
        str(base / "data"),
        "-R",
        "-X",
        "stream",
        "--no-sync",
        "--checkpoint=fast",
    ]
    argv += ["-h", LOCALHOST, "-p", str(primary.port), "-U", "postgres"]
    res = subprocess.run(argv, user=user, cwd=base, capture_output=True, text=True, timeout=120, check=False)
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"pg_basebackup failed (exit {res.returncode}): {res.stdout}{res.stderr}")
    # -R wrote primary_conninfo; name the standby so pg_stat_replication shows it.
    auto = base / "data" / "postgresql.auto.conf"
    auto.write_text(auto.read_text().replace("primary_conninfo = '", "primary_conninfo = 'application_name=standby1 "))
    return base


def _wait_streaming(primary: PostgresServer, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(primary.dsn("postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
        if row and row[0] >= 1:
            return
        time.sleep(0.2)
    raise RuntimeError("standby did not start streaming")


@pytest.fixture(scope="session")
def pg_pair() -> Iterator[PgPair]:
    bin_dir = find_bin_dir()
    base = _initdb(bin_dir)
    (base / "data" / "pg_hba.conf").write_text(HBA)
    servers: list[PostgresServer] = []
    try:
        primary = _start(bin_dir, base, "postgres-primary")
        servers.append(primary)
        with psycopg.connect(primary.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {MONITOR_USER} LOGIN PASSWORD '{MONITOR_PASSWORD}' CONNECTION LIMIT 5")
            conn.execute(f"GRANT pg_monitor TO {MONITOR_USER}")
            conn.execute("CREATE DATABASE appdb")
        standby = _start(bin_dir, _basebackup(bin_dir, primary), "postgres-standby")
        servers.append(standby)
        _wait_streaming(primary)
        yield PgPair(primary, standby)
    finally:
        for server in reversed(servers):
            server.stop()
            shutil.rmtree(server.base_dir, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
