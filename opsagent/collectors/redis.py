"""Redis collector (redis-py): one ``INFO`` per poll, named as redis_exporter names it.

Which INFO fields become which series is content (``info_metrics`` in ``collectors/redis/*.yaml``).
Connect and every read have a timeout. Credentials: ``asset.credentials.redis.{user,password}``
(``user`` only for Redis 6+ ACL users).
"""

from __future__ import annotations

import asyncio
import time
from functools import cached_property
from typing import Any

import redis
import redis.connection
from pydantic import BaseModel, ConfigDict, Field

from opsagent.collectors.base import CollectResult, Sample
from opsagent.collectors.dbcommon import connect_reason, credential, failed
from opsagent.collectors.optcache import OptionsCache
from opsagent.collectors.parsers.dbstatus import parse_redis_info, redis_info_samples
from opsagent.collectors.sqlquery import MetricSpec
from opsagent.errors import CollectError
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.units import Duration

NAME = "redis"
HELP = {
    "redis_up": "Information about the Redis instance",
    "redis_instance_info": "Information about the Redis instance",
    "redis_db_keys": "Total number of keys by DB",
    "redis_db_keys_expiring": "Total number of expiring keys by DB",
    "redis_db_avg_ttl_seconds": "Avg TTL in seconds",
    "redis_connected_slave_offset_bytes": "Offset of connected slave",
    "redis_connected_slave_lag_seconds": "Lag of connected slave",
    "redis_connected_slave_lag_bytes": "Replication bytes the replica has not acknowledged yet: master_repl_offset "
    "minus its offset (opsagent; redis_exporter dashboards compute it)",
    "redis_master_link_up": "Master link status on Redis slave",
    "redis_exporter_last_scrape_duration_seconds": "Seconds the last poll took.",
}


class RedisOptions(BaseModel):
    """Options of the ``redis`` collector (profile ``collectors/redis/default.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    tls: bool = False
    tls_ca: str | None = Field(default=None, description="CA file to verify the server (TLS without it: no verify)")
    connect_timeout: Duration = 5.0
    timeout: Duration = 5.0
    info_sections: list[str] = Field(default_factory=lambda: ["default"])
    info_metrics: dict[str, MetricSpec] = Field(default_factory=dict, description="INFO field → series")


def _connection(asset: Asset, options: RedisOptions) -> redis.connection.Connection:
    kwargs: dict[str, Any] = {
        "host": asset.target,
        "port": asset.port or 6379,
        "username": credential(asset, NAME, "user"),
        "password": credential(asset, NAME, "password"),
        "socket_connect_timeout": options.connect_timeout,
        "socket_timeout": options.timeout,
        # Only AUTH and INFO go over the wire: no CLIENT SETNAME and no CLIENT SETINFO, which the
        # least-privilege ACL the profile documents does not allow (and which the server's ACL LOG
        # would record as denials every poll).
        "client_name": None,
        "driver_info": None,
        "retry_on_timeout": False,
    }
    if options.tls:
        return redis.connection.SSLConnection(
            ssl_ca_certs=options.tls_ca, ssl_cert_reqs="required" if options.tls_ca else "none", **kwargs
        )
    return redis.connection.Connection(**kwargs)  # type: ignore[no-untyped-call]


def classify(exc: redis.RedisError) -> str:
    if isinstance(exc, redis.AuthenticationError | redis.exceptions.AuthenticationWrongNumberOfArgsError):
        return "auth"
    if isinstance(exc, redis.exceptions.NoPermissionError):  # NOPERM: the ACL user may not run the command
        return "permission"
    if isinstance(exc, redis.TimeoutError):
        return "timeout"
    text = str(exc)
    if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")) or "invalid password" in text:
        return "auth" if not text.startswith("NOPERM") else "permission"
    if isinstance(exc, redis.ConnectionError):
        return connect_reason(text)
    return "query_error"


class RedisCollector:
    """Polls a Redis server (primary or replica)."""

    name = NAME
    up_metric = "redis_up"
    options_model = RedisOptions

    def __init__(self) -> None:
        self._options = OptionsCache(RedisOptions)

    @cached_property
    def help(self) -> dict[str, str]:
        from opsagent.config import shipped_content_root
        from opsagent.loader import parse_yaml_file

        out = dict(HELP)
        for path in sorted((shipped_content_root() / "collectors" / NAME).glob("*.y*ml")):
            try:
                metrics = parse_yaml_file(path).data["options"]["info_metrics"]
                out.update({m["name"]: m["help"] for m in metrics.values() if m.get("help")})
            except Exception:  # a broken file loses only its HELP texts; `opsagent check` reports it
                continue
        return out

    async def collect(self, asset: Asset, spec: CollectorSpec, variables: dict[str, Any]) -> CollectResult:
        options = self._options.get(spec.options)
        return await asyncio.to_thread(self.collect_sync, asset, options)

    def collect_sync(self, asset: Asset, options: RedisOptions) -> CollectResult:
        started = time.perf_counter()
        try:
            conn = _connection(asset, options)
        except CollectError as exc:
            return failed(asset.name, NAME, exc.reason, str(exc))
        try:
            conn.send_command("INFO", *options.info_sections)  # type: ignore[no-untyped-call]
            raw = conn.read_response()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            return failed(asset.name, NAME, classify(exc), f"INFO: {exc}")
        finally:
            conn.disconnect()  # type: ignore[no-untyped-call]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        info = parse_redis_info(text)
        fields = {field: (m.name, m.kind, m.scale) for field, m in options.info_metrics.items()}
        samples = redis_info_samples(info, fields)
        samples.append(Sample.of("redis_up", 1))
        samples.append(Sample.of("redis_exporter_last_scrape_duration_seconds", time.perf_counter() - started))
        return CollectResult(asset=asset.name, collector=NAME, samples=samples, facts=_facts(info))


def _facts(info: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "redis_version",
        "redis_mode",
        "os",
        "arch_bits",
        "tcp_port",
        "role",
        "maxmemory",
        "maxmemory_policy",
        "aof_enabled",
        "master_host",
        "master_port",
        "connected_slaves",
        "executable",
        "config_file",
    )
    return {"server": {k: info[k] for k in keys if k in info}}
