"""A real Redis primary and a replica for the session, on 127.0.0.1 and free ports.

Fixture:
    redis_pair (session) -> RedisPair: .primary, .replica (RedisServer: port, client()), .password

Both require a password (``requirepass``); the replica authenticates to the primary with it.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

INSTALL_HINT = "install the Debian package `redis-server` (bash scripts/test.sh does it)"
PASSWORD = "redis-Secret-41d0"  # a test server's throwaway password


@dataclass(frozen=True)
class RedisServer:
    daemon: Daemon
    port: int
    host: str = LOCALHOST

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, password=PASSWORD, socket_timeout=10, decode_responses=True)


@dataclass(frozen=True)
class RedisPair:
    primary: RedisServer
    replica: RedisServer
    password: str = PASSWORD


def _ready(port: int) -> bool:
    try:
        return bool(redis.Redis(host=LOCALHOST, port=port, password=PASSWORD, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def start_redis(base: Path, name: str, extra: str = "") -> RedisServer:
    """One Redis (password ``PASSWORD``) under ``base/name``; the caller stops its daemon."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"`redis-server` not found on PATH: {INSTALL_HINT}")
    return _start(binary, base, name, extra)


def _start(binary: str, base: Path, name: str, extra: str = "") -> RedisServer:
    port = free_port()
    work = base / name
    work.mkdir()
    conf = work / "redis.conf"
    conf.write_text(
        f"bind {LOCALHOST}\nport {port}\ndaemonize no\ndir {work}\nrequirepass {PASSWORD}\n"
        f"masterauth {PASSWORD}\nsave 3600 1\nappendonly no\nmaxmemory 64mb\nmaxmemory-policy allkeys-lru\n{extra}"
    )
    daemon = Daemon(f"redis-{name}", [binary, str(conf)], work / "redis.log", cwd=work)
    daemon.wait_ready(functools.partial(_ready, port), timeout=30)
    return RedisServer(daemon=daemon, port=port)


@pytest.fixture(scope="session")
def redis_pair() -> Iterator[RedisPair]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(f"`redis-server` not found on PATH: {INSTALL_HINT}", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="opsagent-redis-"))
    servers: list[RedisServer] = []
    try:
        primary = _start(binary, base, "primary")
        servers.append(primary)
        replica = _start(binary, base, "replica", f"replicaof {LOCALHOST} {primary.port}\n")
        servers.append(replica)
        deadline = time.monotonic() + 30
        while replica.client().info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("redis replica did not link up")
            time.sleep(0.1)
        yield RedisPair(primary, replica)
    finally:
        for server in reversed(servers):
            server.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
