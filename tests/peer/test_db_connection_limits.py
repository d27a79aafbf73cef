"""A server out of connection slots is up, not unreachable: real PostgreSQL (a role with CONNECTION
LIMIT 1 whose one connection is held open) and MariaDB (an account WITH MAX_USER_CONNECTIONS 1) give
reason ``too_many_connections``, and the shipped TargetDown rule names that reason instead of sending
the on-call to check reachability."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pymysql
import pytest

from opsagent.alerts.promql.engine import Evaluator
from opsagent.alerts.rulefile import compile_rule_file
from opsagent.collectors.base import Outcome
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.poller import Poller
from tests.peer.dbhelpers import ROOT, make_poller
from tests.peers.mariadb import MariaDBServer
from tests.peers.pg_replication import PgPair
from tests.peers.ports import LOCALHOST

pytestmark = pytest.mark.peer

PASSWORD = "storm-Pw-3c9d"  # a test server's throwaway password


def target_down(poller: Poller) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(labels, annotations) of each TargetDown alert the shipped rule gives over the poller's metrics."""
    rule = next(r for r in compile_rule_file(ROOT / "alerts" / "opsagent.rules.yaml") if r.name == "TargetDown")
    result = Evaluator(poller.metrics.history).evaluate(rule.expr, time.time())
    assert isinstance(result, list)
    out = []
    for element in result:
        labels = dict(element.labels)
        out.append((labels, {k: t.render(labels, element.value) for k, t in rule.annotations.items()}))
    return out


@pytest.fixture
def pg_storm_role(pg_pair: PgPair) -> Iterator[psycopg.Connection]:
    """Role opsagent_storm (pg_monitor, CONNECTION LIMIT 1) with its one connection held open."""
    admin_dsn = pg_pair.primary.dsn("postgres")
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS opsagent_storm")
        admin.execute(f"CREATE ROLE opsagent_storm LOGIN PASSWORD '{PASSWORD}' CONNECTION LIMIT 1")
        admin.execute("GRANT pg_monitor TO opsagent_storm")
    held = psycopg.connect(
        host=LOCALHOST, port=pg_pair.primary.port, user="opsagent_storm", password=PASSWORD, dbname="postgres"
    )
    try:
        yield held
    finally:
        held.close()
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute("DROP ROLE IF EXISTS opsagent_storm")


async def test_postgres_role_connection_limit_is_too_many_connections(
    pg_pair: PgPair, pg_storm_role: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSAGENT_T_PG_STORM_PASSWORD", PASSWORD)
    asset = Asset(
        name="pg-storm",
        address=LOCALHOST,
        port=pg_pair.primary.port,
        credentials={"postgres": {"user": "opsagent_storm", "password": "env:OPSAGENT_T_PG_STORM_PASSWORD"}},
    )
    poller = make_poller()
    result = await poller.poll(asset, CollectorSpec(name="postgres", timeout=15))
    assert result.outcome is Outcome.FAILED and result.reason == "too_many_connections", result.message
    assert "too many connections for role" in result.message and PASSWORD not in result.message
    assert [(s.name, s.value) for s in result.samples] == [("pg_up", 0.0)]
    [(labels, annotations)] = target_down(poller)
    assert labels == {"asset": "pg-storm", "collector": "postgres", "reason": "too_many_connections"}
    text = " ".join(annotations.values()).lower()
    assert "too_many_connections" in annotations["summary"] and "too_many_connections" in annotations["description"]
    assert "reachab" not in text
    # once the slot is free again, the poll succeeds and the alert's series is gone
    pg_storm_role.close()
    healed = await poller.poll(asset, CollectorSpec(name="postgres", timeout=15))
    assert healed.outcome is Outcome.OK, healed.message
    assert target_down(poller) == []


async def test_mariadb_max_user_connections_is_too_many_connections(
    mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mariadb_server.root_connect() as admin, admin.cursor() as cur:
        cur.execute("DROP USER IF EXISTS 'opsagent_storm'@'127.0.0.1'")
        cur.execute(f"CREATE USER 'opsagent_storm'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}' WITH MAX_USER_CONNECTIONS 1")
        cur.execute("GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.* TO 'opsagent_storm'@'127.0.0.1'")
    held = pymysql.connect(host=LOCALHOST, port=mariadb_server.port, user="opsagent_storm", password=PASSWORD)
    monkeypatch.setenv("OPSAGENT_T_MYSQL_STORM_PASSWORD", PASSWORD)
    asset = Asset(
        name="my-storm",
        address=LOCALHOST,
        port=mariadb_server.port,
        credentials={"mysql": {"user": "opsagent_storm", "password": "env:OPSAGENT_T_MYSQL_STORM_PASSWORD"}},
    )
    poller = make_poller()
    try:
        result = await poller.poll(asset, CollectorSpec(name="mysql", timeout=15))
    finally:
        held.close()
        with mariadb_server.root_connect() as admin, admin.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'opsagent_storm'@'127.0.0.1'")
    assert result.outcome is Outcome.FAILED and result.reason == "too_many_connections", result.message
    assert "max_user_connections" in result.message and PASSWORD not in result.message
    assert [(s.name, s.value) for s in result.samples] == [("mysql_up", 0.0)]
    [(labels, annotations)] = target_down(poller)
    assert labels["reason"] == "too_many_connections"
    assert "reachab" not in " ".join(annotations.values()).lower()
