"""Pure logic of the database collectors: rows → samples/facts, version gates, optional queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from opsagent.collectors.dbcommon import QueryFailed, connect_reason, run_queries
from opsagent.collectors.parsers.dbstatus import mysql_version_number, pg_setting_value, redis_info_samples
from opsagent.collectors.postgres import PostgresOptions
from opsagent.collectors.sqlquery import QuerySpec, rows_to_facts, rows_to_samples
from opsagent.errors import CollectError


def spec(**kw: object) -> QuerySpec:
    base: dict[str, object] = {"name": "q", "sql": "SELECT 1", "metrics": {"v": {"name": "x_v"}}}
    return QuerySpec.model_validate(base | kw)


def test_rows_to_samples_types_and_nulls() -> None:
    q = spec(
        labels=["db"], metrics={"v": {"name": "x_v_total", "kind": "counter", "scale": 0.001}, "w": {"name": "x_w"}}
    )
    rows = [
        {"db": "a", "v": Decimal("1500"), "w": True},
        {"db": None, "v": None, "w": timedelta(seconds=90)},
    ]
    out = {(s.name, s.labels): (s.value, s.kind) for s in rows_to_samples(q, rows)}
    assert out == {
        ("x_v_total", (("db", "a"),)): (1.5, "counter"),
        ("x_w", (("db", "a"),)): (1.0, "gauge"),
        ("x_w", (("db", ""),)): (90.0, "gauge"),
    }


def test_facts_keyed_and_single_row() -> None:
    rows = [{"name": "a", "setting": "1", "unit": "kB"}, {"name": "b", "setting": "on", "unit": None}]
    assert rows_to_facts(spec(facts="s", fact_key="name", fact_columns=["setting"]), rows) == {"a": "1", "b": "on"}
    assert rows_to_facts(spec(facts="s"), rows[:1]) == rows[0]


def test_query_validation() -> None:
    with pytest.raises(ValidationError):
        QuerySpec.model_validate({"name": "q", "sql": "SELECT 1"})  # does nothing
    with pytest.raises(ValidationError):
        spec(labels=["asset"])  # the registry's own label
    with pytest.raises(ValidationError):
        PostgresOptions.model_validate({"queries": [{"name": "q", "sql": "x", "transform": "nope"}]})


def test_run_queries_gates_versions_and_optional_errors() -> None:
    def execute(sql: str) -> list[dict[str, object]]:
        if sql == "boom":
            raise RuntimeError("permission denied")
        if sql == "slow":
            raise TimeoutError
        return [{"v": 1}]

    def classify(exc: Exception) -> QueryFailed:
        return QueryFailed("timeout" if isinstance(exc, TimeoutError) else "permission", str(exc))

    specs = [spec(), spec(name="new", min_version=150000), spec(name="opt", sql="boom", optional=True)]
    run = run_queries(specs, 140000, execute, classify)
    assert [s.name for s in run.samples] == ["x_v"]
    assert run.skipped == {"opt": "permission: permission denied"}
    with pytest.raises(CollectError) as err:
        run_queries([spec(name="slowq", sql="slow", optional=True)], 1, execute, classify)
    assert err.value.reason == "timeout" and "slowq" in str(err.value)


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
    ],
)
def test_connect_reason(message: str, reason: str) -> None:
    assert connect_reason(message) == reason
