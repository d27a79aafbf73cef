"""PostgreSQL collector (psycopg 3): the queries are content (``collectors/postgres/*.yaml``).

Series are named as postgres_exporter names them. The session is read-only and carries
``statement_timeout`` and ``lock_timeout``, so a locked table or a slow server cannot hang a poll;
the connection has ``connect_timeout``. Credentials: ``asset.credentials.postgres.{user,password}``.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsagent.collectors.base import CollectResult, Sample
from opsagent.collectors.dbcommon import QueryFailed, Transform, connect_reason, credential, failed
from opsagent.collectors.parsers.dbstatus import pg_settings_samples
from opsagent.collectors.queryrun import Table
from opsagent.collectors.sqlbase import SqlCollector
from opsagent.collectors.sqlquery import QuerySpec, check_transforms
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset
from opsagent.units import Duration

NAME = "postgres"
TRANSFORMS: dict[str, Transform] = {"pg_settings": pg_settings_samples}
HELP = {
    "pg_up": "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes).",
    "pg_scrape_duration_seconds": "Seconds the queries of the last poll took (opsagent).",
    "pg_exporter_last_scrape_error": "Whether a query of the last poll failed (1 for error).",
    "pg_exporter_query_errors_total": "Polls in which this profile query failed (opsagent).",
    "pg_scrape_collector_success": "postgres_exporter: Whether a collector succeeded (opsagent: one per query).",
}


class PostgresOptions(BaseModel):
    """Options of the ``postgres`` collector (profile ``collectors/postgres/default.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    dbname: str = "postgres"
    sslmode: str = Field(default="prefer", pattern=r"^(disable|allow|prefer|require|verify-ca|verify-full)$")
    sslrootcert: str | None = None
    connect_timeout: Duration = 5.0
    statement_timeout: Duration = 5.0
    lock_timeout: Duration = 2.0
    application_name: str = "opsagent"
    queries: list[QuerySpec] = Field(default_factory=list)

    @field_validator("queries")
    @classmethod
    def _known_transforms(cls, value: list[QuerySpec]) -> list[QuerySpec]:
        return check_transforms(value, TRANSFORMS)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def conninfo(asset: Asset, options: PostgresOptions) -> dict[str, Any]:
    """libpq keywords for the asset (the password is resolved now and never stored)."""
    params: dict[str, Any] = {
        "host": asset.target,
        "port": asset.port or 5432,
        "dbname": credential(asset, NAME, "dbname") or options.dbname,
        "user": credential(asset, NAME, "user") or "postgres",
        "sslmode": options.sslmode,
        # libpq rounds connect_timeout down to whole seconds and treats < 2 as 2.
        "connect_timeout": max(2, int(options.connect_timeout + 0.999)),
        "application_name": options.application_name,
        "options": f"-c statement_timeout={_ms(options.statement_timeout)} "
        f"-c lock_timeout={_ms(options.lock_timeout)} -c default_transaction_read_only=on",
    }
    password = credential(asset, NAME, "password")
    if password is not None:
        params["password"] = password
    if options.sslrootcert:
        params["sslrootcert"] = options.sslrootcert
    return params


def classify(exc: Exception) -> QueryFailed:
    """A query error as a reason code (the driver's message has no secret in it)."""
    if isinstance(exc, pgerrors.QueryCanceled | pgerrors.LockNotAvailable):
        return QueryFailed("timeout", _first_line(exc))
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return QueryFailed("permission", _first_line(exc))
    if isinstance(exc, pgerrors.UndefinedTable | pgerrors.UndefinedColumn | pgerrors.UndefinedFunction):
        return QueryFailed("missing", _first_line(exc))
    if isinstance(exc, psycopg.OperationalError):
        return QueryFailed(connect_reason(str(exc)), _first_line(exc))
    return QueryFailed("query_error", _first_line(exc) if isinstance(exc, psycopg.Error) else type(exc).__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresCollector(SqlCollector[PostgresOptions]):
    """Polls a PostgreSQL server (primary or standby) with the profile's queries."""

    name = NAME
    up_metric = "pg_up"
    options_model = PostgresOptions
    metric_prefix = "pg"
    success_metric = "pg_scrape_collector_success"
    transforms = TRANSFORMS
    extra_help = HELP

    def collect_sync(self, asset: Asset, options: PostgresOptions) -> CollectResult:
        try:
            params = conninfo(asset, options)
        except CollectError as exc:
            return failed(asset.name, NAME, exc.reason, str(exc))
        try:
            conn = psycopg.connect(autocommit=True, **params)
        except psycopg.Error as exc:
            return failed(asset.name, NAME, connect_reason(str(exc)), f"connect: {_first_line(exc)}")
        with conn:
            return self._poll(asset.name, conn, options)

    def _poll(self, asset: str, conn: psycopg.Connection[Any], options: PostgresOptions) -> CollectResult:
        started = time.perf_counter()
        cursor = conn.cursor()

        def execute(sql: str) -> Table:
            cursor.execute(sql.encode())  # bytes: the query is not a format string
            columns = tuple(c.name for c in cursor.description or ())
            return columns, cursor.fetchall() if columns else []

        try:
            version = conn.info.server_version
            run = self._runner.run(asset, options.queries, version, execute, classify, alive=lambda: not conn.broken)
        except CollectError as exc:
            return failed(asset, NAME, exc.reason, str(exc))
        run.samples.append(Sample.of("pg_up", 1))
        run.samples.append(Sample.of("pg_scrape_duration_seconds", time.perf_counter() - started))
        return run.result(asset, NAME)
