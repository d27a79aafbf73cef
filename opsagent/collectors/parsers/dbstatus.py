"""Pure parsers for database and middleware status outputs, named as the Prometheus exporters name them.

Inputs are what the server returns (rows of ``pg_settings``, ``SHOW GLOBAL STATUS``, ``SHOW SLAVE
STATUS``, Redis ``INFO`` text, nginx ``stub_status`` text); outputs are plain dicts or samples.
Fixture cases of real outputs live in tests/fixtures/parsers/<parser>/.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from opsagent.collectors.base import Sample, SampleKind
from opsagent.collectors.sqlquery import number

# -- PostgreSQL pg_settings (postgres_exporter pg_setting.go) ------------------------------------
_SECONDS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_BYTES = {
    "B": 1,
    "kB": 1024,
    "MB": 1024**2,
    "GB": 1024**3,
    "TB": 1024**4,
    "1kB": 1024,
    "2kB": 2048,
    "4kB": 4096,
    "8kB": 8192,
    "16kB": 16384,
    "32kB": 32768,
    "64kB": 65536,
    "16MB": 16 * 1024**2,
    "32MB": 32 * 1024**2,
    "64MB": 64 * 1024**2,
}


def pg_setting_value(setting: str, unit: str, vartype: str) -> tuple[str, float] | None:
    """(name suffix, value in base units) of one numeric or boolean setting, else None."""
    scale = _unit_scale(unit, vartype)
    if scale is None:
        return None
    if vartype == "bool":
        return ("", 1.0 if setting == "on" else 0.0)
    try:
        value = float(setting)
    except ValueError:
        return None
    return (scale[0], value if value == -1 else value * scale[1])


@functools.lru_cache(maxsize=256)
def _unit_scale(unit: str, vartype: str) -> tuple[str, float] | None:
    """(name suffix, multiplier to base units) of a setting's unit; None for non-numeric settings."""
    if vartype == "bool":
        return ("", 1.0)
    if vartype not in ("integer", "real"):
        return None
    if unit in _SECONDS:
        return ("_seconds", _SECONDS[unit])
    if unit in _BYTES:
        return ("_bytes", float(_BYTES[unit]))
    return ("", 1.0)


def pg_settings_samples(rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """``pg_settings_<name>[_seconds|_bytes]`` per numeric/boolean row of ``pg_settings``."""
    out: list[Sample] = []
    append = out.append
    for row in rows:
        converted = pg_setting_value(str(row["setting"]), row.get("unit") or "", row.get("vartype") or "")
        if converted is not None:
            append(Sample(_pg_setting_series(str(row["name"]), converted[0]), (), converted[1]))
    return out


@functools.lru_cache(maxsize=4096)
def _pg_setting_series(name: str, suffix: str) -> str:
    """Cached: the same ~350 names come back every poll."""
    return "pg_settings_" + _SETTING_CLEAN.sub("_", name) + suffix


_SETTING_CLEAN = re.compile(r"[^a-zA-Z0-9_]")


# -- MySQL / MariaDB (mysqld_exporter collector/global_status.go, global_variables.go, slave_status.go)
_NAME_CLEAN = re.compile(r"[^a-z0-9_]")
_STATUS_GROUPS = {  # mysqld_exporter's globalStatusRE groups: (series suffix, label)
    "com": ("commands_total", "command"),
    "handler": ("handlers_total", "handler"),
    "connection_errors": ("connection_errors_total", "error"),
    "innodb_buffer_pool_pages": ("buffer_pool_pages", "state"),
    "innodb_rows": ("innodb_row_ops_total", "operation"),
    "performance_schema": ("performance_schema_lost_total", "instrumentation"),
}
_GROUP_RE = re.compile(
    r"^(com|handler|connection_errors|innodb_buffer_pool_pages|innodb_rows|performance_schema)_(.*)$"
)
_POOL_STATES = {"data", "dirty", "free", "misc", "old", "total"}


def _status_rows(rows: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, Any]]:
    for row in rows:
        values = list(row.values())
        if len(values) >= 2:
            yield _NAME_CLEAN.sub("_", str(values[0]).lower()), values[1]


def mysql_global_status_samples(rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """``SHOW GLOBAL STATUS`` rows (Variable_name, Value) → ``mysql_global_status_*``.

    Grouped names become one series with a label, as mysqld_exporter does
    (``Com_select`` → ``mysql_global_status_commands_total{command="select"}``); the rest keep their
    lower-cased name. Non-numeric values (``ON``/``OFF`` become 1/0) are skipped.
    """
    out: list[Sample] = []
    for key, raw in _status_rows(rows):
        value = number(raw)
        if value is not None:
            name, labels, kind = _status_series(key)
            out.append(Sample(name, labels, value, kind))
    return out


@functools.lru_cache(maxsize=4096)
def _status_series(key: str) -> tuple[str, tuple[tuple[str, str], ...], SampleKind]:
    """(series, labels, kind) of one status variable; cached: the ~500 names repeat every poll."""
    match = _GROUP_RE.match(key)
    if match is None:  # untyped in mysqld_exporter: exposed as a gauge, the name is what matters
        return f"mysql_global_status_{key}", (), "gauge"
    if match[1] == "innodb_buffer_pool_pages":
        if match[2] in _POOL_STATES:
            return "mysql_global_status_buffer_pool_pages", (("state", match[2]),), "gauge"
        return "mysql_global_status_buffer_pool_page_changes_total", (("operation", match[2]),), "counter"
    suffix, label = _STATUS_GROUPS[match[1]]
    return f"mysql_global_status_{suffix}", ((label, match[2]),), "counter"


def mysql_global_variables_samples(rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """``SHOW GLOBAL VARIABLES`` → ``mysql_global_variables_*`` for numeric and ON/OFF values."""
    out: list[Sample] = []
    for key, raw in _status_rows(rows):
        value = number(raw)
        if value is not None:
            out.append(Sample.of(f"mysql_global_variables_{key}", value))
    return out


def mysql_version_info(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``version``, ``version_comment`` from ``SHOW GLOBAL VARIABLES`` rows (for ``mysql_version_info``)."""
    want = {"version", "version_comment"}
    return {k: str(v) for k, v in _status_rows(rows) if k in want}


def mysql_version_number(version: str) -> int:
    """``10.11.6-MariaDB-0+deb12u1`` → 101106, ``8.0.36`` → 80036 (0 when unparseable).

    MariaDB before 11 sends ``5.5.5-10.11.6-MariaDB`` in the handshake (for old clients): skipped.
    """
    match = re.match(r"(?:5\.5\.5-)?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match:
        return 0
    major, minor, patch = (int(g or 0) for g in match.groups())
    return major * 10000 + minor * 100 + patch


def mysql_slave_status_samples(rows: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """``SHOW SLAVE STATUS`` / ``SHOW REPLICA STATUS`` rows → ``mysql_slave_status_*`` (one set per channel).

    As mysqld_exporter: numeric columns as gauges, Yes/No as 1/0 (``Slave_IO_Running`` →
    ``mysql_slave_status_slave_io_running``), labelled by master_host, master_uuid, channel_name
    (and connection_name on MariaDB multi-source). ``Replica_*``/``Source_*`` names of MySQL 8.0.22+
    are reported under the classic ``slave``/``master`` names so one dashboard fits all.
    """
    out: list[Sample] = []
    for row in rows:
        fields = {_classic(k): v for k, v in row.items()}
        labels = {
            "master_host": str(fields.get("master_host") or ""),
            "master_uuid": str(fields.get("master_server_id") or fields.get("master_uuid") or ""),
            "channel_name": str(fields.get("channel_name") or fields.get("connection_name") or ""),
        }
        for key, raw in fields.items():
            value = _yes_no(raw)
            if value is not None:
                out.append(Sample.of(f"mysql_slave_status_{key}", value, **labels))
    return out


def _classic(column: str) -> str:
    name = _NAME_CLEAN.sub("_", column.lower())
    return name.replace("replica", "slave").replace("source", "master")


def _yes_no(raw: Any) -> float | None:
    if isinstance(raw, str):
        text = raw.strip()
        if text in ("Yes", "No", "Connecting"):
            return 1.0 if text == "Yes" else 0.0
        if not re.fullmatch(r"-?\d+(\.\d+)?", text):
            return None
    return number(raw)


# -- Redis INFO (redis_exporter) --------------------------------------------------------------------
def parse_redis_info(text: str) -> dict[str, Any]:
    """``INFO`` text → flat dict. Nested values (``db0:keys=1,expires=0``, ``slave0:ip=…``) become dicts."""
    info: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        if "=" in value and (key.startswith(("db", "slave", "cmdstat_", "errorstat_", "latency_percentiles"))):
            info[key] = dict(part.partition("=")[::2] for part in value.split(","))
        else:
            info[key] = value
    return info


def parse_stub_status(text: str) -> dict[str, int]:
    """nginx ``stub_status`` page → connections_{active,reading,writing,waiting,accepted,handled}, http_requests."""
    active = re.search(r"Active connections:\s*(\d+)", text)
    totals = re.search(r"server accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)", text)
    rww = re.search(r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)", text)
    if not (active and totals and rww):
        raise ValueError("not an nginx stub_status page")
    return {
        "connections_active": int(active[1]),
        "connections_accepted": int(totals[1]),
        "connections_handled": int(totals[2]),
        "http_requests": int(totals[3]),
        "connections_reading": int(rww[1]),
        "connections_writing": int(rww[2]),
        "connections_waiting": int(rww[3]),
    }


_STATUS_WORDS = {"ok": 1.0, "err": 0.0, "fail": 0.0, "up": 1.0, "down": 0.0}


def redis_number(raw: Any) -> float | None:
    """An INFO value as a number: ``ok``/``err`` and ``up``/``down`` are 1/0, ``1.23M``-style is not parsed."""
    if isinstance(raw, str) and raw.lower() in _STATUS_WORDS:
        return _STATUS_WORDS[raw.lower()]
    return number(raw)


def redis_info_samples(info: Mapping[str, Any], fields: Mapping[str, tuple[str, str, float]]) -> list[Sample]:
    """Samples from parsed ``INFO`` as redis_exporter names them.

    ``fields`` maps an INFO field to (series name, kind, scale) (content: the profile's ``info_metrics``).
    Also: ``redis_instance_info``, ``redis_db_keys{db}``, ``redis_db_keys_expiring{db}``,
    ``redis_db_avg_ttl_seconds{db}``, ``redis_connected_slave_offset_bytes`` /
    ``redis_connected_slave_lag_seconds`` / ``redis_connected_slave_lag_bytes`` per replica,
    ``redis_master_link_up{master_host,master_port}`` on a replica.
    """
    out: list[Sample] = []
    for field, (name, kind, scale) in fields.items():
        value = redis_number(info.get(field))
        if value is not None:
            out.append(Sample.of(name, value * scale, kind))  # type: ignore[arg-type]
    out.append(
        Sample.of(
            "redis_instance_info",
            1,
            "info",
            role=str(info.get("role", "")),
            redis_version=str(info.get("redis_version", "")),
            redis_build_id=str(info.get("redis_build_id", "")),
            redis_mode=str(info.get("redis_mode", "")),
            os=str(info.get("os", "")),
            maxmemory_policy=str(info.get("maxmemory_policy", "")),
            tcp_port=str(info.get("tcp_port", "")),
            run_id=str(info.get("run_id", "")),
            process_id=str(info.get("process_id", "")),
        )
    )
    out += _keyspace(info)
    out += _replicas(info)
    if info.get("role") == "slave":
        link_up = 1 if info.get("master_link_status") == "up" else 0
        master = {"master_host": str(info.get("master_host", "")), "master_port": str(info.get("master_port", ""))}
        out.append(Sample.of("redis_master_link_up", link_up, **master))
    return out


def _keyspace(info: Mapping[str, Any]) -> list[Sample]:
    out: list[Sample] = []
    for key, value in info.items():
        if re.fullmatch(r"db\d+", key) and isinstance(value, dict):
            out.append(Sample.of("redis_db_keys", float(value.get("keys", 0)), db=key))
            out.append(Sample.of("redis_db_keys_expiring", float(value.get("expires", 0)), db=key))
            if "avg_ttl" in value:
                out.append(Sample.of("redis_db_avg_ttl_seconds", float(value["avg_ttl"]) / 1000, db=key))
    return out


def _replicas(info: Mapping[str, Any]) -> list[Sample]:
    """Per replica of a primary: its acknowledged offset and seconds since its last ack (as
    redis_exporter), and the bytes it is behind: ``master_repl_offset`` minus its offset, the
    expression redis_exporter's dashboards compute, precomputed so one rule can alert on it."""
    out: list[Sample] = []
    master_offset = number(info.get("master_repl_offset"))
    for key, value in info.items():
        if re.fullmatch(r"slave\d+", key) and isinstance(value, dict):
            labels = {
                "slave_ip": str(value.get("ip", "")),
                "slave_port": str(value.get("port", "")),
                "slave_state": str(value.get("state", "")),
            }
            offset = number(value.get("offset"))
            if offset is not None:
                out.append(Sample.of("redis_connected_slave_offset_bytes", offset, **labels))
                if master_offset is not None:
                    lag = max(0.0, master_offset - offset)
                    out.append(Sample.of("redis_connected_slave_lag_bytes", lag, **labels))
            if "lag" in value:
                out.append(Sample.of("redis_connected_slave_lag_seconds", float(value["lag"]), **labels))
    return out
