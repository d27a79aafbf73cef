"""Every database/middleware collector's series pass `promtool check metrics` once in /metrics."""

from __future__ import annotations

import re

import pytest
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from opsagent.collectors import available_collectors
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.metrics import MetricsRegistry
from tests.peer.dbhelpers import make_poller
from tests.peers.mariadb import MariaDBServer
from tests.peers.nginx import NginxServer
from tests.peers.pg_replication import PgPair
from tests.peers.ports import LOCALHOST
from tests.peers.prometheus import promtool_check_metrics
from tests.peers.redis import RedisPair

pytestmark = pytest.mark.peer
_EXPORTER_NAMING = re.compile(
    r'should not have "_count" suffix|abbreviated units|should not include type|use base unit'
)


async def test_exposition_is_valid(
    pg_pair: PgPair,
    mariadb_server: MariaDBServer,
    redis_pair: RedisPair,
    nginx_server: NginxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_PG", pg_pair.monitor_password)
    monkeypatch.setenv("T_MY", mariadb_server.monitor_password)
    monkeypatch.setenv("T_RD", redis_pair.password)

    def cred(section: str, env: str, user: str | None = "opsagent_monitor") -> dict[str, dict[str, str]]:
        return {section: {"password": f"env:{env}", **({"user": user} if user else {})}}

    assets = [
        (
            Asset(name="pg1", address=LOCALHOST, port=pg_pair.primary.port, credentials=cred("postgres", "T_PG")),
            "postgres",
        ),
        (
            Asset(name="pg2", address=LOCALHOST, port=pg_pair.standby.port, credentials=cred("postgres", "T_PG")),
            "postgres",
        ),
        (Asset(name="my1", address=LOCALHOST, port=mariadb_server.port, credentials=cred("mysql", "T_MY")), "mysql"),
        (
            Asset(name="rd1", address=LOCALHOST, port=redis_pair.primary.port, credentials=cred("redis", "T_RD", None)),
            "redis",
        ),
        (
            Asset(name="rd2", address=LOCALHOST, port=redis_pair.replica.port, credentials=cred("redis", "T_RD", None)),
            "redis",
        ),
        (Asset(name="ngx", address=LOCALHOST, port=nginx_server.http_port), "nginx"),
    ]
    poller = make_poller()
    registry = MetricsRegistry()
    for collector in available_collectors().values():
        registry.add_help(collector.help)
    poller.metrics = registry
    options = {"probes": [{"module": "http_2xx", "target": f"http://{LOCALHOST}:{nginx_server.http_port}/health"}]}
    targets = [(a, CollectorSpec(name=c), {}) for a, c in assets]
    targets.append((Asset(name="web", address=LOCALHOST), CollectorSpec(name="probe", options=options), {}))
    results = await poller.poll_many(targets)
    assert all(r.ok for r in results), [(r.asset, r.reason, r.message) for r in results]
    for openmetrics in (False, True):
        text = registry.render_collected(openmetrics) + ("# EOF\n" if openmetrics else "")
        for secret in (pg_pair.monitor_password, mariadb_server.monitor_password, redis_pair.password):
            assert secret not in text
        if openmetrics:
            assert list(openmetrics_parser.text_string_to_metric_families(text))
            continue
        assert list(text_string_to_metric_families(text))
        code, output = promtool_check_metrics(text)
        # 3 = lint findings only; they are the exporters' own names (pg_stat_activity_count, ..._sec),
        # kept on purpose so existing dashboards work. 1 would be an unparsable exposition.
        assert code in (0, 3), output
        assert all(_EXPORTER_NAMING.search(line) for line in output.splitlines() if line.strip()), output
    text = registry.render_collected(False)
    assert 'pg_up{asset="pg2"} 1.0' in text
    assert "# TYPE pg_stat_database_xact_commit gauge" in text
    assert 'redis_connected_clients{asset="rd1"}' in text
