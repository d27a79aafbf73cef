"""The shipped database, Redis and nginx runbooks against real servers: PostgreSQL primary and
standby, MariaDB, Redis primary and replica, nginx; a connection storm handled end to end; a
backup restored into a scratch database and compared."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest

from tests.peer.rbhelpers import Home, import_inventory, make_home
from tests.peers.mariadb import MariaDBServer
from tests.peers.nginx import NginxServer
from tests.peers.pg_replication import PgPair
from tests.peers.ports import LOCALHOST
from tests.peers.postgres import PostgresServer
from tests.peers.redis import RedisPair

pytestmark = pytest.mark.peer


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return make_home(tmp_path, monkeypatch)


def _secret(home: Home, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    home.env[name] = value
    return f"env:{name}"


def _item(name: str, port: int, collector: str, creds: str, extra: str = "") -> str:
    return (
        f"  - name: {name}\n    kind: database\n    address: {LOCALHOST}\n    port: {port}\n"
        f"    credentials: {creds}\n    collectors: [{{name: {collector}, interval: 60s}}]\n{extra}"
    )


def _matrix(home: Home, runbook: str) -> tuple[int, dict[str, dict[str, dict[str, str]]], dict[str, object]]:
    result = home.cli("runbook", "run", runbook)
    run = home.json("runbook", "runs")[0]
    assert run["runbook"] == runbook, result.output
    detail = home.json("runbook", "show", str(run["id"]))
    matrix: dict[str, dict[str, dict[str, str]]] = {}
    for step in detail["steps"]:
        for check in step["checks"]:
            matrix.setdefault(step["path"], {})[step["asset"]] = check
    return result.exit_code, matrix, detail


def test_postgresql_inspection_on_primary_and_standby(
    pg_pair: PgPair, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = _secret(home, monkeypatch, "OPSAGENT_T_RB_PG", pg_pair.monitor_password)
    creds = f"{{postgres: {{user: {pg_pair.monitor_user}, password: '{pw}'}}}}"
    import_inventory(
        home,
        [
            _item("pg-primary", pg_pair.primary.port, "postgres", creds),
            _item("pg-standby", pg_pair.standby.port, "postgres", creds),
        ],
    )
    _code, matrix, detail = _matrix(home, "postgresql-inspection")
    assert set(matrix) >= {"connections used", "slow queries", "replication", "backups recent (WAL archiving)"}
    assert matrix["replication"]["pg-primary"]["value"].startswith("primary, 1 replica(s)")
    assert matrix["replication"]["pg-standby"]["value"].startswith("standby")
    assert matrix["connections used"]["pg-primary"]["status"] == "pass"
    # the test servers archive no WAL: the inspection says so instead of passing silently
    assert matrix["backups recent (WAL archiving)"]["pg-primary"]["status"] in ("warn", "fail")
    errors = [(s["asset"], s["path"], s["message"]) for s in detail["steps"] if s["status"] not in ("ok", "skipped")]
    assert not errors, errors
    assert pg_pair.monitor_password not in json.dumps(detail)


def test_mysql_inspection_on_mariadb(
    mariadb_server: MariaDBServer, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = _secret(home, monkeypatch, "OPSAGENT_T_RB_MY", mariadb_server.monitor_password)
    creds = f"{{mysql: {{user: {mariadb_server.monitor_user}, password: '{pw}'}}}}"
    import_inventory(home, [_item("maria", mariadb_server.port, "mysql", creds, "    vars: {conn_warn_percent: 0}\n")])
    _code, matrix, detail = _matrix(home, "mysql-inspection")
    assert matrix["connections used"]["maria"]["status"] == "warn"  # per-asset threshold 0 %
    assert matrix["slow queries"]["maria"]["status"] == "pass"
    assert matrix["replication"]["maria"]["value"] == "not a replica"
    assert [s["status"] for s in detail["steps"] if s["path"] == "backups recent"] == ["skipped"]


def test_redis_inspection_on_primary_and_replica(
    redis_pair: RedisPair, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    pw = _secret(home, monkeypatch, "OPSAGENT_T_RB_REDIS", redis_pair.password)
    creds = f"{{redis: {{password: '{pw}'}}}}"
    import_inventory(
        home,
        [
            _item("redis-a", redis_pair.primary.port, "redis", creds),
            _item("redis-b", redis_pair.replica.port, "redis", creds),
        ],
    )
    _code, matrix, detail = _matrix(home, "redis-inspection")
    # every command answered; the check statuses are whatever the live servers say
    problems = [(s["asset"], s["path"], s["status"], s["message"]) for s in detail["steps"] if s["status"] != "ok"]
    assert not problems, problems
    assert matrix["replication"]["redis-a"]["value"] == "master, 1 replica(s)"
    assert matrix["replication"]["redis-b"]["value"] == "slave, link up"
    assert "connected" in matrix["clients"]["redis-a"]["value"]
    assert redis_pair.password not in json.dumps(detail)


def test_nginx_inspection_status_and_certificate(nginx_server: NginxServer, home: Home) -> None:
    variables = f"{{nginx_status_url: '{nginx_server.status_url}', tls_port: {nginx_server.https_port}"
    variables += ", cert_warn_days: 100000}"
    item = f"  - name: web\n    kind: middleware\n    address: {LOCALHOST}\n"
    item += f"    collectors: [{{name: nginx, interval: 60s}}]\n    vars: {variables}\n"
    import_inventory(home, [item])
    code, matrix, _detail = _matrix(home, "nginx-inspection")
    assert matrix["stub_status"]["web"]["status"] == "pass" and matrix["stub_status"]["web"]["value"].endswith(
        " active"
    )
    days = (nginx_server.leaf_not_after - dt.datetime.now(dt.UTC)).days
    cert = matrix["TLS certificate"]["web"]
    assert cert["status"] == ("fail" if days <= 7 else "warn") and abs(int(cert["value"].split()[0]) - days) <= 1, cert
    assert code == (1 if days <= 7 else 0)


def test_connection_storm_terminates_idle_sessions(
    pg_pair: PgPair, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """db-connections with --yes: idle sessions older than the limit are terminated, others kept."""
    import_inventory(
        home,
        [
            _item(
                "pg-storm",
                pg_pair.primary.port,
                "postgres",
                "{postgres: {user: postgres}}",
                "    vars: {idle_minutes: 0}\n",
            )
        ],
    )
    idle = [
        psycopg.connect(pg_pair.primary.dsn("postgres"), autocommit=True, application_name="storm") for _ in range(4)
    ]
    try:
        result = home.cli("runbook", "run", "db-connections", "--yes")
        assert result.exit_code == 0, result.output
        detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
        steps = {s["path"]: s for s in detail["steps"]}
        assert "storm" in steps["connections by user, application, state"]["stdout"]
        assert int(steps["terminate idle sessions"]["stdout"].splitlines()[-1]) >= 4
        assert steps["note on the incident"]["status"] == "skipped"  # run by hand: no incident to note
        dead = 0
        for conn in idle:
            try:
                conn.execute("SELECT 1")
            except psycopg.OperationalError:
                dead += 1
        assert dead == 4
    finally:
        for conn in idle:
            conn.close()


def test_backup_restore_verification(postgres_server: PostgresServer, home: Home) -> None:
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS rbsrc")
        conn.execute("CREATE DATABASE rbsrc")
    with psycopg.connect(postgres_server.dsn("rbsrc"), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int primary key, note text)")
        conn.execute("INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 500) g")
        conn.execute("ANALYZE")
    import_inventory(home, [_item("pg-bk", postgres_server.port, "postgres", "{postgres: {user: postgres}}")])
    backup_dir = home.path / "backups"
    result = home.cli(
        "runbook", "run", "backup-restore-verify", "-e", "database=rbsrc", "-e", f"backup_dir={backup_dir}"
    )
    assert result.exit_code == 0, result.output
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    steps = {s["path"].split(" ▸ ")[-1]: s for s in detail["steps"]}
    assert steps["restored row counts"]["checks"][0]["status"] == "pass", steps["restored row counts"]
    assert "1 tables, 500 rows" in steps["restored row counts"]["checks"][0]["value"]
    assert steps["drop scratch database"]["status"] == "ok"
    assert list(backup_dir.glob("pg-bk-rbsrc-*.dump"))
    with psycopg.connect(postgres_server.dsn("postgres"), autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'opsagent_restore_%'").fetchone()
    assert left == (0,)


SQL_ECHO = """\
name: sql-echo
targets: "{target}"
parameters:
  path: {{type: str}}
steps:
  - name: echo
    sql: {{query: "SELECT {{{{ path }}}} AS p, 'a%' AS pct"}}
  - name: echo with params
    sql: {{query: "SELECT %s AS n, {{{{ path }}}} AS p, 'b%%' AS pct", params: [7]}}
"""
TRICKY = "C:\\temp\\new O'Brien \\' ; --"


def _echo(home: Home, target: str) -> list[dict[str, object]]:
    home.runbook("sql-echo.yaml", SQL_ECHO.format(target=target))
    result = home.cli("runbook", "run", "sql-echo", "-e", f"path={TRICKY}")
    assert result.exit_code == 0, result.output
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    return [s for s in detail["steps"]]


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_sql_values_are_bound_by_the_driver_not_quoted(
    server: str, request: pytest.FixtureRequest, home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backslash arrives as one backslash on PostgreSQL and MariaDB alike (no dialect's quoting)."""
    if server == "postgres":
        pg: PostgresServer = request.getfixturevalue("postgres_server")
        import_inventory(home, [_item("db-echo", pg.port, "postgres", "{postgres: {user: postgres}}")])
    else:
        my: MariaDBServer = request.getfixturevalue("mariadb_server")
        pw = _secret(home, monkeypatch, "OPSAGENT_T_RB_MY_ECHO", my.monitor_password)
        creds = f"{{mysql: {{user: {my.monitor_user}, password: '{pw}'}}}}"
        import_inventory(home, [_item("db-echo", my.port, "mysql", creds)])
    steps = _echo(home, "db-echo")
    assert [s["stdout"].splitlines()[-1] for s in steps] == [f"{TRICKY}\ta%", f"7\t{TRICKY}\tb%"]
    assert steps[0]["command"] == f"SELECT %s AS p, 'a%%' AS pct  -- params [{TRICKY!r}]"
