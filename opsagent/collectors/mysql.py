"""MySQL / MariaDB collector (PyMySQL): the queries are content (``collectors/mysql/*.yaml``).

Series are named as mysqld_exporter names them. Every socket read has a timeout, and the session gets
a server-side statement limit (MariaDB ``max_statement_time``, MySQL ``max_execution_time``) and
short lock waits, so a locked table cannot hang a poll.
Credentials: ``asset.credentials.mysql.{user,password}``.
"""

from __future__ import annotations

import time
from typing import Any

import pymysql
import pymysql.cursors
from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.collectors.base import CollectResult, Sample
from opsagent.collectors.dbcommon import QueryFailed, Transform, connect_reason, credential, failed
from opsagent.collectors.parsers.dbstatus import (
    mysql_global_status_samples,
    mysql_global_variables_samples,
    mysql_slave_status_samples,
    mysql_version_number,
)
from opsagent.collectors.queryrun import Table
from opsagent.collectors.sqlbase import SqlCollector
from opsagent.collectors.sqlquery import QuerySpec, check_transforms
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset
from opsagent.units import Duration

NAME = "mysql"
TRANSFORMS: dict[str, Transform] = {
    "mysql_global_status": mysql_global_status_samples,
    "mysql_global_variables": mysql_global_variables_samples,
    "mysql_slave_status": mysql_slave_status_samples,
}
HELP = {
    "mysql_up": "Whether the MySQL server is up.",
    "mysql_exporter_scrape_duration_seconds": "Seconds the queries of the last poll took.",
    "mysql_exporter_last_scrape_error": "Whether an error occurred during the last poll (1 for error).",
    "mysql_exporter_query_errors_total": "Polls in which this profile query failed (opsagent).",
    "mysql_exporter_collector_success": "mysqld_exporter: Whether a collector succeeded (opsagent: one per profile "
    "query).",
}
# Server error codes → reason (https://mariadb.com/kb/en/mariadb-error-codes/, MySQL error reference).
_TIMEOUT_CODES = {1205, 1317, 1969, 3024, 2013}  # lock wait, interrupted, statement time, execution time, lost
_AUTH_CODES = {1045, 1049, 1698, 1251}
_PERMISSION_CODES = {1044, 1142, 1143, 1227, 1370}
_MISSING_CODES = {1146, 1054, 1305}  # no such table, column, function
_CONNECTION_LIMIT_CODES = {1040, 1203}  # max_connections, max_user_connections (1226: per-account limits)
_SYNTAX_CODES = {1064, 1193}  # bad SQL, unknown system variable: the query's fault, not the server's


class MySQLOptions(BaseModel):
    """Options of the ``mysql`` collector (profile ``collectors/mysql/default.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    database: str | None = None
    tls: bool = Field(default=False, description="require TLS (verify the certificate with tls_ca)")
    tls_ca: str | None = None
    connect_timeout: Duration = 5.0
    statement_timeout: Duration = 5.0
    lock_wait_timeout: Duration = 2.0
    queries: list[QuerySpec] = Field(default_factory=list)

    @field_validator("queries")
    @classmethod
    def _known_transforms(cls, value: list[QuerySpec]) -> list[QuerySpec]:
        return check_transforms(value, TRANSFORMS)


def _code(exc: BaseException) -> int:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return args[0] if args and isinstance(args[0], int) else 0


def _message(exc: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 2:
        return f"({args[0]}) {args[1]}"
    return str(exc) or type(exc).__name__


def classify(exc: Exception) -> QueryFailed:
    code = _code(exc)
    if code in _CONNECTION_LIMIT_CODES or (code == 1226 and "connections" in _message(exc)):
        return QueryFailed("too_many_connections", _message(exc))
    if code in _TIMEOUT_CODES or isinstance(exc, TimeoutError):
        return QueryFailed("timeout", _message(exc))
    if code in _PERMISSION_CODES:
        return QueryFailed("permission", _message(exc))
    if code in _AUTH_CODES:
        return QueryFailed("auth", _message(exc))
    if code in _MISSING_CODES:
        return QueryFailed("missing", _message(exc))
    if code in _SYNTAX_CODES or isinstance(exc, pymysql.err.ProgrammingError):
        return QueryFailed("query_error", _message(exc))
    if isinstance(exc, pymysql.err.OperationalError) and code >= 2000:  # client-side: connection errors
        return QueryFailed(connect_reason(_message(exc)), _message(exc))
    return QueryFailed("query_error", _message(exc))


def connect_args(asset: Asset, options: MySQLOptions) -> dict[str, Any]:
    # Reads wait for the server's own statement limit first, then a margin, then give up.
    read_timeout = options.statement_timeout + max(2.0, options.connect_timeout)
    args: dict[str, Any] = {
        "host": asset.target,
        "port": asset.port or 3306,
        "user": credential(asset, NAME, "user") or "root",
        "password": credential(asset, NAME, "password") or "",
        "database": options.database,
        "connect_timeout": options.connect_timeout,
        "read_timeout": read_timeout,
        "write_timeout": read_timeout,
        "charset": "utf8mb4",
        "cursorclass": pymysql.cursors.Cursor,  # tuples: the column names come once per query
        "autocommit": True,
        "program_name": "opsagent",
    }
    if options.tls:
        args["ssl"] = {"ca": options.tls_ca} if options.tls_ca else {}
        args["ssl_verify_cert"] = options.tls_ca is not None
    return args


def server_version(version: str) -> tuple[str, int]:
    """(flavour, number) of a server version string: ``10.4.32-MariaDB-1`` and the handshake form
    ``5.5.5-10.4.32-MariaDB`` → ("mariadb", 100432); ``8.0.22`` → ("mysql", 80022). A profile
    query's version bounds are read per flavour (see QuerySpec)."""
    return ("mariadb" if "mariadb" in version.lower() else "mysql"), mysql_version_number(version)


def session_limits(version: str, options: MySQLOptions) -> list[str]:
    """SET statements bounding every query of this session on this server flavour."""
    lock = max(1, int(options.lock_wait_timeout))
    out = [f"SET SESSION lock_wait_timeout = {lock}", f"SET SESSION innodb_lock_wait_timeout = {lock}"]
    if "mariadb" in version.lower():
        out.append(f"SET SESSION max_statement_time = {options.statement_timeout:g}")
    elif mysql_version_number(version) >= 50708:
        out.append(f"SET SESSION max_execution_time = {max(1, int(options.statement_timeout * 1000))}")
    return out


class MySQLCollector(SqlCollector[MySQLOptions]):
    """Polls a MySQL or MariaDB server with the profile's queries."""

    name = NAME
    up_metric = "mysql_up"
    options_model = MySQLOptions
    metric_prefix = "mysql"
    success_metric = "mysql_exporter_collector_success"
    transforms = TRANSFORMS
    extra_help = HELP

    def collect_sync(self, asset: Asset, options: MySQLOptions) -> CollectResult:
        try:
            args = connect_args(asset, options)
        except CollectError as exc:
            return failed(asset.name, NAME, exc.reason, str(exc))
        try:
            conn = pymysql.connect(**args)
        except pymysql.err.MySQLError as exc:
            found = classify(exc)
            reason = found.reason if found.reason in ("auth", "too_many_connections") else connect_reason(str(found))
            return failed(asset.name, NAME, reason, f"connect: {found}")
        try:
            return self._poll(asset.name, conn, options)
        finally:
            conn.close()

    def _poll(self, asset: str, conn: pymysql.connections.Connection[Any], options: MySQLOptions) -> CollectResult:
        started = time.perf_counter()
        version = conn.get_server_info() or ""
        cursor = conn.cursor()

        def execute(sql: str) -> Table:
            cursor.execute(sql)
            columns = tuple(str(d[0]) for d in cursor.description or ())
            return columns, list(cursor.fetchall())

        try:
            for statement in session_limits(version, options):
                execute(statement)
            flavor, number = server_version(version)
            run = self._runner.run(asset, options.queries, number, execute, classify, flavor, alive=lambda: conn.open)
        except CollectError as exc:
            return failed(asset, NAME, exc.reason, str(exc))
        except pymysql.err.MySQLError as exc:
            found = classify(exc)
            return failed(asset, NAME, found.reason, f"session set-up: {found}")
        run.samples.append(Sample.of("mysql_up", 1))
        run.samples.append(Sample.of("mysql_exporter_scrape_duration_seconds", time.perf_counter() - started))
        server = run.facts.get("server")
        run.facts["server"] = {**(server if isinstance(server, dict) else {}), "flavor": flavor}  # memo stays intact
        return run.result(asset, NAME)
