"""A profile query the monitoring account may not run (a table it has no grant on) is counted and
flagged, as postgres_exporter / mysqld_exporter do, while the rest of the poll is still reported:
real PostgreSQL and MariaDB, the low-privilege accounts the profiles document."""

from __future__ import annotations

import psycopg
import pytest

from opsagent.collectors.base import Outcome
from opsagent.inventory.model import Asset, CollectorSpec
from tests.peer.dbhelpers import make_poller, value
from tests.peers.mariadb import MariaDBServer
from tests.peers.pg_replication import PgPair
from tests.peers.ports import LOCALHOST

pytestmark = pytest.mark.peer

UP_QUERY = {"name": "alive", "sql": "SELECT 1 AS one", "metrics": {"one": {"name": "x_alive"}}}


async def test_postgres_query_without_grant_is_counted_and_the_rest_reported(
    pg_pair: PgPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(pg_pair.primary.dsn("postgres"), autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS payroll (salary int)")  # no grant to the monitor role
    monkeypatch.setenv("OPSAGENT_T_PG_PASSWORD", pg_pair.monitor_password)
    asset = Asset(
        name="pg1",
        address=LOCALHOST,
        port=pg_pair.primary.port,
        credentials={"postgres": {"user": pg_pair.monitor_user, "password": "env:OPSAGENT_T_PG_PASSWORD"}},
    )
    payroll = {"name": "payroll", "sql": "SELECT count(*) AS n FROM payroll", "metrics": {"n": {"name": "x_payroll"}}}
    spec = CollectorSpec(name="postgres", options={"queries": [UP_QUERY, payroll]})
    poller = make_poller()
    first, second = [await poller.poll(asset, spec) for _ in range(2)]
    for polls, result in enumerate((first, second), start=1):
        assert result.outcome is Outcome.OK, result.message
        assert value(result, "pg_up") == 1 and value(result, "x_alive") == 1
        assert not [s for s in result.samples if s.name == "x_payroll"]
        assert value(result, "pg_exporter_query_errors_total", query="payroll") == polls
        assert value(result, "pg_exporter_query_errors_total", query="alive") == 0
        assert value(result, "pg_exporter_last_scrape_error") == 1
        assert "payroll" in result.message and "permission" in result.message
        assert result.facts["query_errors"]["payroll"].startswith("permission: permission denied")
    text = poller.metrics.render_collected(False)  # what /metrics serves
    assert 'pg_exporter_query_errors_total{query="payroll",asset="pg1"} 2.0' in text
    assert 'pg_exporter_last_scrape_error{asset="pg1"} 1.0' in text


async def test_mysql_query_without_grant_is_counted_and_the_rest_reported(
    mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mariadb_server.root_connect() as admin, admin.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS appdb.salaries (amount INT) ENGINE=InnoDB")
    monkeypatch.setenv("OPSAGENT_T_MYSQL_PASSWORD", mariadb_server.monitor_password)
    asset = Asset(
        name="my1",
        address=LOCALHOST,
        port=mariadb_server.port,
        credentials={"mysql": {"user": mariadb_server.monitor_user, "password": "env:OPSAGENT_T_MYSQL_PASSWORD"}},
    )
    salaries = {
        "name": "salaries",
        "sql": "SELECT COUNT(*) AS n FROM appdb.salaries",
        "metrics": {"n": {"name": "x_n"}},
    }
    missing = {"name": "gone", "sql": "SELECT COUNT(*) AS n FROM appdb.no_such_table", "facts": "gone"}
    spec = CollectorSpec(name="mysql", options={"queries": [UP_QUERY, salaries, missing]})
    poller = make_poller()
    first, second = [await poller.poll(asset, spec) for _ in range(2)]
    for polls, result in enumerate((first, second), start=1):
        assert result.outcome is Outcome.OK, result.message
        assert value(result, "mysql_up") == 1 and value(result, "x_alive") == 1
        assert value(result, "mysql_exporter_query_errors_total", query="salaries") == polls
        assert value(result, "mysql_exporter_query_errors_total", query="gone") == polls
        assert value(result, "mysql_exporter_query_errors_total", query="alive") == 0
        assert value(result, "mysql_exporter_last_scrape_error") == 1
        assert result.facts["query_errors"]["salaries"].startswith("permission: (1142)")
        # no grant on the database at all: the server says "denied" before "no such table"
        assert result.facts["query_errors"]["gone"].split(":")[0] in ("permission", "missing")
