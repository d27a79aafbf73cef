"""Pure logic of the database collectors: rows → samples/facts, version gates, optional queries."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from opsagent.collectors.base import Sample
from opsagent.collectors.dbcommon import QueryFailed, connect_reason
from opsagent.collectors.mysql import TRANSFORMS as MYSQL_TRANSFORMS
from opsagent.collectors.parsers.dbstatus import mysql_version_number, pg_setting_value, redis_info_samples
from opsagent.collectors.postgres import TRANSFORMS, PostgresOptions
from opsagent.collectors.queryrun import QueryRunner, compile_plan, plan_facts, plan_samples
from opsagent.collectors.sqlquery import QuerySpec
from opsagent.errors import CollectError


def spec(**kw: object) -> QuerySpec:
    base: dict[str, object] = {"name": "q", "sql": "SELECT 1", "metrics": {"v": {"name": "x_v"}}}
    return QuerySpec.model_validate(base | kw)


def test_rows_to_samples_types_and_nulls() -> None:
    q = spec(
        labels=["db"], metrics={"v": {"name": "x_v_total", "kind": "counter", "scale": 0.001}, "w": {"name": "x_w"}}
    )
    columns = ("w", "db", "v")  # any order: the plan maps names to indexes
    rows = [(True, "a", Decimal("1500")), (timedelta(seconds=90), None, None)]
    out = {(s.name, s.labels): (s.value, s.kind) for s in plan_samples(compile_plan(q, columns), rows)}
    assert out == {
        ("x_v_total", (("db", "a"),)): (1.5, "counter"),
        ("x_w", (("db", "a"),)): (1.0, "gauge"),
        ("x_w", (("db", ""),)): (90.0, "gauge"),
    }


def test_facts_keyed_and_single_row() -> None:
    columns = ("name", "setting", "unit")
    rows = [("a", "1", "kB"), ("b", "on", None)]
    keyed = spec(facts="s", fact_key="name", fact_columns=["setting"])
    assert plan_facts(keyed, columns, rows) == {"a": "1", "b": "on"}
    assert plan_facts(spec(facts="s"), columns, rows[:1]) == {"name": "a", "setting": "1", "unit": "kB"}
    assert plan_facts(spec(facts="s", fact_key="name"), columns, rows) == {
        "a": {"setting": "1", "unit": "kB"},
        "b": {"setting": "on", "unit": None},
    }


def test_query_validation() -> None:
    with pytest.raises(ValidationError):
        QuerySpec.model_validate({"name": "q", "sql": "SELECT 1"})  # does nothing
    with pytest.raises(ValidationError):
        spec(labels=["asset"])  # the registry's own label
    with pytest.raises(ValidationError):
        PostgresOptions.model_validate({"queries": [{"name": "q", "sql": "x", "transform": "nope"}]})


def classify(exc: Exception) -> QueryFailed:
    if isinstance(exc, TimeoutError):
        return QueryFailed("timeout", "canceling statement due to statement timeout")
    if isinstance(exc, ConnectionError):
        return QueryFailed("unreachable", "server closed the connection unexpectedly")
    return QueryFailed("permission", str(exc))


def execute(sql: str) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    errors = {"boom": PermissionError("permission denied"), "slow": TimeoutError(), "gone": ConnectionError()}
    if sql in errors:
        raise errors[sql]
    return ("v",), [(1,)]


def test_runner_gates_versions_and_skips_optional_errors() -> None:
    specs = [spec(), spec(name="new", min_version=150000), spec(name="opt", sql="boom", optional=True)]
    run = QueryRunner("x").run("a1", specs, 140000, execute, classify)
    assert [s.name for s in run.samples if s.name == "x_v"] == ["x_v"]
    assert run.skipped == {"opt": "permission: permission denied"} and not run.errors
    assert {s.name: s.value for s in run.samples if not s.labels}["x_exporter_last_scrape_error"] == 0


def test_runner_counts_failing_queries_and_keeps_the_rest() -> None:
    """As postgres_exporter: a failing query is counted and flagged, the others still reported."""
    runner = QueryRunner("pg")
    specs = [spec(name="ok"), spec(name="secret", sql="boom")]
    for polls in (1, 2):
        run = runner.run("a1", specs, 1, execute, classify)
        errors = {dict(s.labels)["query"]: s.value for s in run.samples if s.name == "pg_exporter_query_errors_total"}
        assert errors == {"ok": 0, "secret": polls}
        assert [s.value for s in run.samples if s.name == "pg_exporter_last_scrape_error"] == [1]
        assert [s.value for s in run.samples if s.name == "x_v"] == [1]
        assert run.errors == {"secret": "permission: permission denied"}
    result = run.result("a1", "postgres")
    assert result.ok and "secret" in result.message and result.facts["query_errors"] == run.errors
    assert QueryRunner("pg").run("a2", specs, 1, execute, classify).errors  # counters are per asset
    assert [s.value for s in runner.run("a3", specs[:1], 1, execute, classify).samples if "errors" in s.name] == [0]


@pytest.mark.parametrize(("sql", "reason", "alive"), [("slow", "timeout", False), ("gone", "unreachable", True)])
def test_runner_fails_the_poll_on_lost_connection(sql: str, reason: str, alive: bool) -> None:
    with pytest.raises(CollectError) as err:
        specs = [spec(name="q1", sql=sql, optional=True)]
        QueryRunner("x").run("a1", specs, 1, execute, classify, alive=lambda: alive)
    assert err.value.reason == reason and "q1" in str(err.value)


def test_runner_counts_a_timed_out_query_and_keeps_the_rest() -> None:
    """A statement/lock timeout on a live connection is one failed query (even an optional one):
    counted and flagged, the other queries reported, the poll OK (pg_up means able to connect)."""
    specs = [spec(name="slow", sql="slow"), spec(name="opt", sql="slow", optional=True), spec(name="ok")]
    run = QueryRunner("pg").run("a1", specs, 1, execute, classify, alive=lambda: True)
    errors = {dict(s.labels)["query"]: s.value for s in run.samples if s.name == "pg_exporter_query_errors_total"}
    assert errors == {"slow": 1, "opt": 1, "ok": 0} and set(run.errors) == {"slow", "opt"}
    assert run.errors["slow"].startswith("timeout: ") and [s.value for s in run.samples if s.name == "x_v"] == [1]
    assert run.result("a1", "postgres").ok


def test_runner_reuses_the_conversion_of_unchanged_rows() -> None:
    calls: list[int] = []

    def transform(rows: list[Mapping[str, object]]) -> list[Sample]:
        calls.append(len(rows))
        return [Sample.of("x_t", float(str(rows[0]["v"])))]

    table: list[tuple[object, ...]] = [(1,)]
    runner = QueryRunner("x", {"t": transform})
    specs = [spec(transform="t", facts="f")]
    first = runner.run("a1", specs, 1, lambda sql: (("v",), list(table)), classify)
    again = runner.run("a1", specs, 1, lambda sql: (("v",), list(table)), classify)
    assert calls == [1] and again.facts == first.facts == {"f": {"v": 1}}
    assert [s for s in again.samples if s.name.startswith("x_")] == [
        s for s in first.samples if s.name.startswith("x_")
    ]
    table[0] = (2,)
    changed = runner.run("a1", specs, 1, lambda sql: (("v",), list(table)), classify)
    assert calls == [1, 1] and changed.facts == {"f": {"v": 2}}
    assert {s.name: s.value for s in changed.samples}["x_t"] == 2


@pytest.mark.parametrize(
    ("text", "number"),
    [("10.11.6-MariaDB-0+deb12u1", 101106), ("5.5.5-10.11.6-MariaDB", 101106), ("8.0.36", 80036), ("x", 0)],
)
def test_mysql_version_number(text: str, number: int) -> None:
    assert mysql_version_number(text) == number


def test_pg_setting_units() -> None:
    assert pg_setting_value("16384", "8kB", "integer") == ("_bytes", 16384 * 8192)
    assert pg_setting_value("200", "ms", "integer") == ("_seconds", 0.2)
    assert pg_setting_value("-1", "ms", "integer") == ("_seconds", -1)
    assert pg_setting_value("5", "min", "integer") == ("_seconds", 300)
    assert pg_setting_value("off", "", "bool") == ("", 0.0)
    assert pg_setting_value("replica", "", "enum") is None


def test_redis_info_samples_status_words_and_scale() -> None:
    info = {"rdb_last_bgsave_status": "err", "latest_fork_usec": "250", "role": "slave", "master_link_status": "down"}
    fields = {"rdb_last_bgsave_status": ("redis_rdb_last_bgsave_status", "gauge", 1.0)}
    fields["latest_fork_usec"] = ("redis_latest_fork_seconds", "gauge", 1e-6)
    out = {s.name: s.value for s in redis_info_samples(info, fields)}
    assert out["redis_rdb_last_bgsave_status"] == 0
    assert out["redis_latest_fork_seconds"] == pytest.approx(0.00025)
    assert out["redis_master_link_up"] == 0


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('FATAL:  password authentication failed for user "m"', "auth"),
        ("(1045, \"Access denied for user 'm'@'localhost' (using password: YES)\")", "auth"),
        ("connection to server at 127.0.0.1, port 1 failed: Connection refused", "refused"),
        ("(2003, \"Can't connect to MySQL server on 'db' (timed out)\")", "timeout"),
        ('could not translate host name "nope" to address', "dns"),
        ("SSL error: certificate verify failed", "tls"),
        (
            "connection to server at 127.0.0.1, port 5432 failed: FATAL:  sorry, too many clients already",
            "too_many_connections",
        ),
        ('FATAL:  too many connections for role "opsagent_monitor"', "too_many_connections"),
        ('FATAL:  too many connections for database "appdb"', "too_many_connections"),
        (
            "FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
            "too_many_connections",
        ),
        ("(1040, 'Too many connections')", "too_many_connections"),
        ("max number of clients reached", "too_many_connections"),  # Redis maxclients
        ("(1203, \"User m already has more than 'max_user_connections' active connections\")", "too_many_connections"),
    ],
)
def test_connect_reason(message: str, reason: str) -> None:
    assert connect_reason(message) == reason


@functools.cache
def shipped_postgres_queries() -> list[QuerySpec]:
    import yaml

    from opsagent.config import shipped_content_root

    data = yaml.safe_load((shipped_content_root() / "collectors/postgres/default.yaml").read_text(encoding="utf-8"))
    return PostgresOptions.model_validate(data["options"]).queries


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        (150004, {"bgwriter"}, {"bgwriter_17", "checkpointer"}),
        (160000, {"bgwriter"}, {"bgwriter_17", "checkpointer"}),
        (169999, {"bgwriter"}, {"bgwriter_17", "checkpointer"}),
        (170000, {"bgwriter_17", "checkpointer"}, {"bgwriter"}),
        (170002, {"bgwriter_17", "checkpointer"}, {"bgwriter"}),
    ],
)
def test_checkpoint_queries_are_gated_on_postgres_17(version: int, present: set[str], absent: set[str]) -> None:
    """PostgreSQL 17 moved checkpoint counters from pg_stat_bgwriter to pg_stat_checkpointer: the
    shipped profile runs exactly the query that exists on each version."""
    ran: list[str] = []

    def execute(sql: str) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
        ran.append(sql)
        return (), []

    specs = shipped_postgres_queries()
    QueryRunner("pg", TRANSFORMS).run("a1", specs, version, execute, classify)
    names = {s.name for s in specs if s.sql in ran}
    assert present <= names and not absent & names
    checkpoint_sql = " ".join(sql for sql in ran if "checkpoint" in sql)
    assert ("pg_stat_checkpointer" in checkpoint_sql) == (version >= 170000)
    assert ("checkpoints_timed" in checkpoint_sql) == (version < 170000)


@functools.cache
def shipped_mysql_queries() -> list[QuerySpec]:
    import yaml

    from opsagent.collectors.mysql import MySQLOptions
    from opsagent.config import shipped_content_root

    data = yaml.safe_load((shipped_content_root() / "collectors/mysql/default.yaml").read_text(encoding="utf-8"))
    return MySQLOptions.model_validate(data["options"]).queries


@pytest.mark.parametrize(
    ("version", "statement"),
    [
        ("10.3.39-MariaDB-0+deb10u1", "SHOW SLAVE STATUS"),
        ("5.5.5-10.3.39-MariaDB-0+deb10u1", "SHOW SLAVE STATUS"),
        ("5.5.5-10.4.x-MariaDB", "SHOW SLAVE STATUS"),
        ("10.4.32-MariaDB", "SHOW SLAVE STATUS"),
        ("10.5.0-MariaDB", "SHOW SLAVE STATUS"),
        ("10.5.1-MariaDB", "SHOW REPLICA STATUS"),
        ("5.5.5-10.11.6-MariaDB-0+deb12u1", "SHOW REPLICA STATUS"),
        ("11.4.2-MariaDB", "SHOW REPLICA STATUS"),
        ("5.7.44-log", "SHOW SLAVE STATUS"),
        ("8.0.21", "SHOW SLAVE STATUS"),
        ("8.0.22", "SHOW REPLICA STATUS"),
        ("8.4.0", "SHOW REPLICA STATUS"),
    ],
)
def test_replication_statement_is_chosen_by_flavour_and_version(version: str, statement: str) -> None:
    """Exactly one replication-status statement runs, the one the server has: MariaDB's versions
    are not compared with MySQL's thresholds (MariaDB 10.3-10.5.0 has only SHOW SLAVE STATUS)."""
    from opsagent.collectors.mysql import server_version

    ran: list[str] = []

    def execute(sql: str) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
        ran.append(sql.strip())
        return (), []

    flavor, number = server_version(version)
    QueryRunner("mysql", MYSQL_TRANSFORMS).run("a1", shipped_mysql_queries(), number, execute, classify, flavor)
    assert [sql for sql in ran if sql.endswith("STATUS") and "SHOW GLOBAL" not in sql] == [statement]


def test_server_version_flavour() -> None:
    from opsagent.collectors.mysql import server_version

    assert server_version("5.5.5-10.4.x-MariaDB") == ("mariadb", 100400)
    assert server_version("10.3.39-MariaDB-0+deb10u1") == ("mariadb", 100339)
    assert server_version("8.0.22") == ("mysql", 80022)


def test_version_bounds_per_flavour_are_validated() -> None:
    with pytest.raises(ValidationError):
        spec(min_version={"MariaDB": 100501})
    per = spec(min_version={"mysql": 80022, "mariadb": 100501})
    assert per.applies_to(80022, "mysql") and not per.applies_to(100500, "mariadb")
    assert per.applies_to(100501, "mariadb") and per.applies_to(1, "postgres")


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        (1040, "Too many connections", "too_many_connections"),
        (1203, "User m already has more than 'max_user_connections' active connections", "too_many_connections"),
        (1226, "User 'm' has exceeded the 'max_user_connections' resource (current value: 1)", "too_many_connections"),
        (1226, "User 'm' has exceeded the 'max_queries_per_hour' resource (current value: 9)", "query_error"),
        (1045, "Access denied for user 'm'@'h' (using password: YES)", "auth"),
    ],
)
def test_mysql_connection_limit_codes(code: int, message: str, reason: str) -> None:
    import pymysql

    from opsagent.collectors.mysql import classify as mysql_classify

    assert mysql_classify(pymysql.err.OperationalError(code, message)).reason == reason
