"""The redis collector against a real primary + replica: figures checked against INFO; wrong
password and a dead port give clear failures."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from opsagent.collectors.base import Outcome
from tests.peer.dbhelpers import poll, value
from tests.peers.ports import LOCALHOST, free_port
from tests.peers.redis import PASSWORD, RedisPair, start_redis

pytestmark = pytest.mark.peer


def asset(port: int, monkeypatch: pytest.MonkeyPatch, password: str) -> dict[str, object]:
    monkeypatch.setenv("OPSAGENT_T_REDIS_PASSWORD", password)
    return {
        "kind": "database",
        "address": LOCALHOST,
        "port": port,
        "credentials": {"redis": {"password": "env:OPSAGENT_T_REDIS_PASSWORD"}},
    }


async def test_primary_figures_match_info(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    client = redis_pair.primary.client()
    client.set("opsagent:k1", "v")
    client.get("opsagent:k1")
    client.get("opsagent:absent")
    blocker = redis_pair.primary.client()
    thread = threading.Thread(target=blocker.blpop, args=(["opsagent:queue"], 3))
    thread.start()
    # The blocked client is in place and the replica has acknowledged an offset (it does every
    # second): waited for, not a fixed sleep, as the machine is busy.
    deadline = time.monotonic() + 10
    while client.info("clients")["blocked_clients"] < 1 or client.info("replication")["slave0"]["offset"] <= 0:
        assert time.monotonic() < deadline, "BLPOP did not block or the replica never acknowledged"
        time.sleep(0.05)
    result = await poll(asset(redis_pair.primary.port, monkeypatch, redis_pair.password), "redis")
    info = client.info()
    client.lpush("opsagent:queue", "wake")
    thread.join()
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "redis_up") == 1
    labels = dict(next(s for s in result.samples if s.name == "redis_instance_info").labels)
    assert labels["role"] == "master" and labels["redis_version"] == info["redis_version"]
    # at poll time: the test's client, the blocked one and the poll's own; the poll's closed since
    assert value(result, "redis_connected_clients") == info["connected_clients"] + 1 == 3
    assert value(result, "redis_blocked_clients") == info["blocked_clients"] == 1
    assert value(result, "redis_memory_max_bytes") == info["maxmemory"] == 64 * 1024 * 1024
    assert 0 < value(result, "redis_memory_used_bytes") <= info["maxmemory"]
    assert value(result, "redis_keyspace_hits_total") == info["keyspace_hits"] >= 1
    assert value(result, "redis_keyspace_misses_total") == info["keyspace_misses"] >= 1
    assert value(result, "redis_evicted_keys_total") == info["evicted_keys"]
    assert value(result, "redis_connected_slaves") == info["connected_slaves"] == 1
    assert value(result, "redis_db_keys", db="db0") == info["db0"]["keys"]
    assert value(result, "redis_rdb_last_bgsave_status") == (1 if info["rdb_last_bgsave_status"] == "ok" else 0)
    assert value(result, "redis_aof_enabled") == 0
    replica_offset = value(result, "redis_connected_slave_offset_bytes", slave_state="online")
    assert 0 < replica_offset <= value(result, "redis_master_repl_offset") <= info["master_repl_offset"]
    assert value(result, "redis_instantaneous_ops_per_sec") >= 0
    assert result.facts["server"]["role"] == "master"


async def test_replica_figures(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    result = await poll(asset(redis_pair.replica.port, monkeypatch, redis_pair.password), "redis")
    info = redis_pair.replica.client().info("replication")
    assert result.outcome is Outcome.OK, result.message
    assert value(result, "redis_master_link_up") == 1
    assert result.facts["server"]["role"] == "slave"
    assert result.facts["server"]["master_port"] == str(redis_pair.primary.port)
    assert 0 < value(result, "redis_slave_repl_offset") <= info["slave_repl_offset"]
    assert value(result, "redis_master_last_io_seconds_ago") >= 0


async def test_wrong_password_is_an_auth_failure(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    result = await poll(asset(redis_pair.primary.port, monkeypatch, "bad-pw-77"), "redis", timeout=10)
    assert result.outcome is Outcome.FAILED and result.reason == "auth", result.message
    assert "bad-pw-77" not in result.message


async def test_no_password_is_an_auth_failure(redis_pair: RedisPair) -> None:
    result = await poll({"address": LOCALHOST, "port": redis_pair.primary.port}, "redis", timeout=10)
    assert result.reason == "auth", result.message


async def test_stopped_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    result = await poll(asset(free_port(), monkeypatch, "x"), "redis", timeout=10)
    assert result.outcome is Outcome.UNREACHABLE and result.reason == "refused", result.message
    assert [(s.name, s.value) for s in result.samples] == [("redis_up", 0.0)]


async def test_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts but never answers (a hung server) fails at the read timeout."""
    import socket

    listener = socket.socket()
    listener.bind((LOCALHOST, 0))
    listener.listen(8)
    try:
        started = time.monotonic()
        result = await poll(
            asset(listener.getsockname()[1], monkeypatch, "x"), "redis", timeout=15, options={"timeout": "1s"}
        )
        assert time.monotonic() - started < 5
    finally:
        listener.close()
    assert result.outcome is Outcome.TIMEOUT and result.reason == "timeout", result.message


async def test_replica_lag_in_bytes_and_seconds(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen replica (SIGSTOP) stops acknowledging: the primary's view of its lag in bytes and
    seconds grows, and opsagent's figures match INFO replication on the primary."""
    client = redis_pair.primary.client()
    replica_pid = redis_pair.replica.daemon.proc.pid
    os.kill(replica_pid, signal.SIGSTOP)
    try:
        before = int(client.info("replication")["master_repl_offset"])
        for i in range(50):
            client.set(f"opsagent:lag:{i}", "x" * 2000)
        time.sleep(2.2)  # the replica acks every second; two missed acks make lag_seconds >= 2
        result = await poll(asset(redis_pair.primary.port, monkeypatch, redis_pair.password), "redis")
        info = client.info("replication")
    finally:
        os.kill(replica_pid, signal.SIGCONT)
    assert result.outcome is Outcome.OK, result.message
    replica = {"slave_port": str(redis_pair.replica.port)}
    lag_bytes = value(result, "redis_connected_slave_lag_bytes", **replica)
    offset = value(result, "redis_connected_slave_offset_bytes", **replica)
    assert lag_bytes == value(result, "redis_master_repl_offset") - offset
    assert lag_bytes >= 50 * 2000 and offset <= before
    # the server's own view, a moment later (a replication PING may add a few bytes in between)
    server_lag = int(info["master_repl_offset"]) - int(info["slave0"]["offset"])
    assert 0 <= server_lag - lag_bytes <= 64
    assert value(result, "redis_connected_slave_lag_seconds", **replica) >= 2
    # once thawed, the replica catches up and the lag returns to (about) zero
    deadline = time.monotonic() + 20
    while True:
        healed = await poll(asset(redis_pair.primary.port, monkeypatch, redis_pair.password), "redis")
        if value(healed, "redis_connected_slave_lag_bytes", **replica) == 0:
            break
        assert time.monotonic() < deadline, "replica did not catch up"
        await asyncio.sleep(0.3)


def documented_acl() -> list[str]:
    """The ACL rules after the user name in the profile's documented `ACL SETUSER` line."""
    from tests.peer.dbhelpers import ROOT

    text = (ROOT / "collectors" / "redis" / "default.yaml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "ACL SETUSER opsagent_monitor" in line]
    assert len(lines) == 1, "the profile documents one monitoring ACL"
    rules = lines[0].split("ACL SETUSER opsagent_monitor", 1)[1].split()
    assert ">..." in rules  # the password placeholder
    return rules


def acl_user(redis_pair: RedisPair, name: str, rules: list[str], password: str) -> None:
    admin = redis_pair.primary.client()
    admin.execute_command("ACL", "DELUSER", name)
    admin.execute_command("ACL", "SETUSER", name, "reset", *[f">{password}" if r == ">..." else r for r in rules])
    admin.execute_command("ACL", "LOG", "RESET")


def acl_asset(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch, user: str, password: str) -> dict[str, object]:
    monkeypatch.setenv("OPSAGENT_T_REDIS_ACL_PASSWORD", password)
    return {
        "kind": "database",
        "address": LOCALHOST,
        "port": redis_pair.primary.port,
        "credentials": {"redis": {"user": user, "password": "env:OPSAGENT_T_REDIS_ACL_PASSWORD"}},
    }


async def test_documented_least_privilege_acl_works(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exactly the ACL the profile documents: the poll succeeds and the server logs no denied command
    (no CLIENT SETNAME / SETINFO behind the collector's back)."""
    acl_user(redis_pair, "opsagent_monitor", documented_acl(), "acl-Pw-5e1f")
    try:
        result = await poll(acl_asset(redis_pair, monkeypatch, "opsagent_monitor", "acl-Pw-5e1f"), "redis", timeout=10)
        denied = redis_pair.primary.client().execute_command("ACL", "LOG")
    finally:
        redis_pair.primary.client().execute_command("ACL", "DELUSER", "opsagent_monitor")
    assert result.outcome is Outcome.OK, f"{result.reason}: {result.message}"
    assert value(result, "redis_up") == 1
    assert value(result, "redis_connected_slaves") == 1
    assert result.facts["server"]["role"] == "master"
    assert denied == [], denied


async def test_acl_without_info_is_a_permission_failure(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOPERM (the ACL user may not run INFO) is reason `permission`, not `query_error` or `auth`."""
    rules = [r for r in documented_acl() if r != "+info"]
    acl_user(redis_pair, "opsagent_noinfo", rules, "acl-Pw-77aa")
    try:
        result = await poll(acl_asset(redis_pair, monkeypatch, "opsagent_noinfo", "acl-Pw-77aa"), "redis", timeout=10)
    finally:
        redis_pair.primary.client().execute_command("ACL", "DELUSER", "opsagent_noinfo")
    assert result.outcome is Outcome.FAILED and result.reason == "permission", f"{result.reason}: {result.message}"
    assert "acl-Pw-77aa" not in result.message
    assert [(s.name, s.value) for s in result.samples] == [("redis_up", 0.0)]


async def test_acl_user_limited_to_info_works(redis_pair: RedisPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's "a Redis ACL user limited to INFO": `-@all +info` alone is enough."""
    acl_user(redis_pair, "opsagent_infoonly", ["on", ">...", "-@all", "+info"], "acl-Pw-19c0")
    try:
        asset = acl_asset(redis_pair, monkeypatch, "opsagent_infoonly", "acl-Pw-19c0")
        result = await poll(asset, "redis", timeout=10)
        denied = redis_pair.primary.client().execute_command("ACL", "LOG")
    finally:
        redis_pair.primary.client().execute_command("ACL", "DELUSER", "opsagent_infoonly")
    assert result.outcome is Outcome.OK, f"{result.reason}: {result.message}"
    assert value(result, "redis_up") == 1 and denied == []


async def test_maxclients_reached_is_too_many_connections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A Redis at maxclients (up, but refusing new clients) is reason too_many_connections."""
    server = start_redis(tmp_path, "full")
    held = server.client()
    try:
        held.config_set("maxclients", 1)  # this client takes the one slot
        result = await poll(asset(server.port, monkeypatch, PASSWORD), "redis", timeout=10)
    finally:
        held.close()
        server.daemon.stop()
    assert result.outcome is Outcome.FAILED and result.reason == "too_many_connections", result.message
    assert [(s.name, s.value) for s in result.samples] == [("redis_up", 0.0)]
