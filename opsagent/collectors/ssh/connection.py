"""SSH connections (fabric over paramiko): open with host-key checking, keep them (and their shell
session) in a pool, classify failures.

Blocking code: the collector runs it in worker threads. Every step has a timeout (TCP connect,
banner, auth, channel open, the command batch). Failures become :class:`SshFailure` with a short
reason code; their messages never hold a secret (paramiko's exception texts name hosts, key types
and auth methods only).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from fabric import Config, Connection

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh.errors import SshFailure
from opsagent.collectors.ssh.hostkeys import HostKeyPolicy, install
from opsagent.collectors.ssh.keys import KeyCache
from opsagent.collectors.ssh.session import Plan, ShellSession
from opsagent.secrets import Secret


@dataclass(frozen=True)
class Endpoint:
    """Where and how to log in. Secrets stay wrapped; ``identity`` never includes their values."""

    host: str
    port: int
    user: str
    key: Secret | None = None  # a key file path, or the key text itself
    passphrase: Secret | None = None
    password: Secret | None = None
    known_hosts: tuple[str, ...] = ()
    accept_unknown_host_key: bool = False
    pin_file: str | None = None  # where accepted first-seen keys go (None: $OPSAGENT_HOME/known_hosts)
    connect_timeout: float = 10.0
    keepalive: int = 30
    jump: Endpoint | None = None

    def identity(self) -> tuple[Any, ...]:
        """Pool key part: a changed secret (hash only) or setting opens a new connection."""
        secrets = tuple(hash(s) if s is not None else None for s in (self.key, self.passphrase, self.password))
        jump = self.jump.identity() if self.jump else None
        host_keys = (self.known_hosts, self.accept_unknown_host_key, self.pin_file)
        return (self.host, self.port, self.user, secrets, host_keys, jump)

    def host_key_policy(self) -> HostKeyPolicy:
        pins = Path(self.pin_file).expanduser() if self.pin_file else None
        return HostKeyPolicy(self.host, self.port, self.known_hosts, self.accept_unknown_host_key, pins)

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def _safe(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _connect_kwargs(ep: Endpoint, key_cache: KeyCache) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "timeout": ep.connect_timeout,
        "banner_timeout": ep.connect_timeout,
        "auth_timeout": ep.connect_timeout,
        "channel_timeout": ep.connect_timeout,
    }
    explicit = ep.key is not None or ep.password is not None
    # With explicit credentials only those are tried (a wrong key must fail, not fall back to
    # ~/.ssh/id_*); without any, behave like `ssh`: agent and default keys.
    kwargs["allow_agent"] = kwargs["look_for_keys"] = not explicit
    if ep.key is not None:
        kwargs["pkey"] = key_cache.load(ep.key, ep.passphrase)
    if ep.password is not None:
        kwargs["password"] = ep.password.reveal()
    return kwargs


def make_connection(ep: Endpoint, gateway: Connection | None, key_cache: KeyCache) -> Connection:
    # lazy=True: no ~/.ssh/config or fabric config files, so behaviour depends on the inventory only.
    conn = Connection(
        ep.host,
        user=ep.user,
        port=ep.port,
        config=Config(lazy=True),
        gateway=gateway,
        connect_kwargs=_connect_kwargs(ep, key_cache),
    )
    # Host keys: our policy alone decides (paramiko's own table stays empty), see hostkeys.py.
    conn.connect_kwargs.update(install(conn.client, ep.host_key_policy()))
    return conn


IDLE_WAKEUP_NO_KEEPALIVE = 60.0


def idle_wakeup(ep: Endpoint) -> float:
    """Seconds the reader thread of a logged-in connection sleeps when nothing arrives: one
    keepalive interval (a keepalive can only be due then), else a minute."""
    return float(ep.keepalive) if ep.keepalive else IDLE_WAKEUP_NO_KEEPALIVE


def open_connection(conn: Connection, ep: Endpoint) -> None:
    try:
        conn.open()
    except Exception as exc:
        conn.close()
        raise classify(exc, ep, "connect") from None
    transport = conn.client.get_transport()
    if transport is not None:
        if ep.keepalive:
            transport.set_keepalive(ep.keepalive)
        # paramiko's reader thread wakes every 0.1 s to look for a keepalive due or a close; each
        # wake-up costs ~0.1 ms of CPU on a VM (a timer interrupt, an exception, the GIL), so 1,000
        # idle connections cost more CPU than polling them once a minute. Arriving data still
        # wakes it at once, and close_connection() wakes it to exit.
        with contextlib.suppress(Exception):
            transport.sock.settimeout(idle_wakeup(ep))


def close_connection(conn: Connection) -> None:
    """Close a connection; its reader thread, asleep in recv() for up to idle_wakeup() seconds,
    is woken by shutting the TCP socket down first (closing the descriptor would not wake it)."""
    transport = conn.client.get_transport()
    sock = transport.sock if transport is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    conn.client.close()


def classify(exc: BaseException, ep: Endpoint, step: str) -> SshFailure:
    """Map paramiko/socket errors to (reason, outcome, message)."""
    if isinstance(exc, SshFailure):
        return exc
    where = f"{ep.host}:{ep.port}"
    checks: list[tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[], SshFailure]]] = [
        (paramiko.BadHostKeyException, lambda: _hostkey_mismatch(exc, where)),
        (paramiko.AuthenticationException, lambda: _auth(exc, ep)),
        (paramiko.ssh_exception.NoValidConnectionsError, lambda: _no_connection(exc, where)),
        ((socket.timeout, TimeoutError), lambda: _timeout(step, where, ep)),
        (socket.gaierror, lambda: SshFailure("unreachable", Outcome.UNREACHABLE, f"cannot resolve {ep.host}")),
        (ConnectionRefusedError, lambda: SshFailure("refused", Outcome.UNREACHABLE, f"connection refused by {where}")),
        (OSError, lambda: _os_error(exc, where)),
        (paramiko.SSHException, lambda: _ssh_exception(exc, where, ep)),
        (EOFError, lambda: SshFailure("ssh", Outcome.FAILED, f"{where} closed the connection during {step}")),
    ]
    for types, make in checks:
        if isinstance(exc, types):
            return make()
    return SshFailure("ssh", Outcome.FAILED, f"{step} to {where} failed: {type(exc).__name__}: {_safe(exc)}")


def _hostkey_mismatch(exc: BaseException, where: str) -> SshFailure:
    assert isinstance(exc, paramiko.BadHostKeyException)
    got = exc.key.fingerprint if hasattr(exc.key, "fingerprint") else exc.key.get_name()
    return SshFailure(
        "hostkey_mismatch",
        Outcome.FAILED,
        f"host key of {where} does not match known_hosts (got {got}): possible man-in-the-middle, connection refused",
    )


def _auth(exc: BaseException, ep: Endpoint) -> SshFailure:
    methods = ""
    if isinstance(exc, paramiko.BadAuthenticationType):
        methods = f" (server allows: {', '.join(exc.allowed_types)})"
    return SshFailure("auth", Outcome.FAILED, f"authentication failed for {ep}{methods}")


def _no_connection(exc: BaseException, where: str) -> SshFailure:
    assert isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError)
    codes = {e.errno for e in exc.errors.values()}
    if codes <= {errno.ECONNREFUSED}:
        return SshFailure("refused", Outcome.UNREACHABLE, f"connection refused by {where}")
    return SshFailure("unreachable", Outcome.UNREACHABLE, f"{where} is unreachable (no route to host)")


def _timeout(step: str, where: str, ep: Endpoint) -> SshFailure:
    if step == "connect":
        return SshFailure("timeout", Outcome.TIMEOUT, f"connect to {where} timed out after {ep.connect_timeout:g}s")
    return SshFailure("timeout", Outcome.TIMEOUT, f"{step} on {where} timed out")


def _os_error(exc: BaseException, where: str) -> SshFailure:
    assert isinstance(exc, OSError)
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
        return SshFailure("unreachable", Outcome.UNREACHABLE, f"{where} is unreachable ({exc.strerror})")
    return SshFailure("unreachable", Outcome.UNREACHABLE, f"cannot connect to {where}: {exc.strerror or _safe(exc)}")


def _ssh_exception(exc: BaseException, where: str, ep: Endpoint) -> SshFailure:
    text = str(exc)
    # A server that accepts TCP but never speaks: paramiko reports a banner error, or (when its
    # handshake wait simply ran out) "No existing session".
    if "banner" in text.lower() or "no existing session" in text.lower():
        return SshFailure(
            "timeout", Outcome.TIMEOUT, f"{where} completed no SSH handshake within {ep.connect_timeout:g}s"
        )
    return SshFailure("ssh", Outcome.FAILED, f"SSH error with {where}: {_safe(exc)}")


class Pool:
    """Persistent connections, one per pool key (asset), reused across polls and reopened after a
    failure; jump hosts are shared by every target behind them. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._gateways: dict[tuple[Any, ...], _Entry] = {}
        self._idle_checked = 0.0
        self.keys = KeyCache()  # parsed private keys, for the reconnects of this pool's hosts

    def transport(self, key: str, ep: Endpoint) -> tuple[paramiko.Transport, bool]:
        """A live transport for ``key`` (opened now if needed); True when it was reused."""
        entry = self._entry(self._entries, key, ep)
        with entry.lock:
            entry.last_used = time.monotonic()
            transport = entry.live_transport()
            if transport is not None:
                return transport, True
            entry.close()
            gateway = self._gateway(ep.jump) if ep.jump else None
            entry.conn = make_connection(ep, gateway, self.keys)
            open_connection(entry.conn, ep)
            transport = entry.live_transport()
            if transport is None:
                raise SshFailure("ssh", Outcome.FAILED, f"connection to {ep} closed right after login")
            return transport, False

    def session(
        self, key: str, ep: Endpoint, plan: Plan, start: Callable[[paramiko.Transport], ShellSession]
    ) -> tuple[ShellSession, bool, bool]:
        """The live shell session of ``key`` for ``plan`` (connection and session opened as needed);
        with whether the connection, and the session, were reused."""
        transport, conn_reused = self.transport(key, ep)
        entry = self._entry(self._entries, key, ep)
        with entry.lock:
            old = entry.session
            if old is not None and old.transport is transport and old.plan is plan and old.alive():
                return old, conn_reused, True
            entry.drop_session()
            entry.session = start(transport)
            return entry.session, conn_reused, False

    def drop_session(self, key: str) -> None:
        """Close the key's shell (it timed out mid-poll) but keep its connection."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            entry.drop_session()

    def _gateway(self, ep: Endpoint) -> Connection:
        entry = self._entry(self._gateways, ep.identity(), ep)
        with entry.lock:
            entry.last_used = time.monotonic()
            if entry.live_transport() is None:
                entry.close()
                conn = make_connection(ep, self._gateway(ep.jump) if ep.jump else None, self.keys)
                try:
                    open_connection(conn, ep)
                except SshFailure as exc:
                    raise SshFailure(exc.reason, exc.outcome, f"jump host: {exc}") from None
                entry.conn = conn
            assert entry.conn is not None
            return entry.conn

    def _entry(self, table: dict[Any, _Entry], key: Any, ep: Endpoint) -> _Entry:
        with self._lock:
            entry = table.get(key)
            if entry is None or entry.identity != ep.identity():
                if entry is not None:
                    entry.close()
                entry = table[key] = _Entry(ep.identity())
            return entry

    def discard(self, key: str) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is not None:
            entry.close()

    def close_idle(self, idle: float) -> int:
        """Close connections unused for ``idle`` seconds. Every poll calls this, but the scan of
        every entry runs at most every ``idle / 10`` seconds (once per poll it was O(hosts) per
        poll, O(hosts²) per round)."""
        now = time.monotonic()
        if now - self._idle_checked < min(idle / 10, 30.0):
            return 0
        self._idle_checked = now
        with self._lock:
            stale = [k for k, e in self._entries.items() if now - e.last_used > idle and not e.lock.locked()]
            entries = [self._entries.pop(k) for k in stale]
        for entry in entries:
            entry.close()
        return len(entries)

    def open_count(self) -> int:
        with self._lock:
            return sum(1 for e in self._entries.values() if e.conn is not None and e.conn.is_connected)

    def close(self) -> None:
        with self._lock:
            entries = [*self._entries.values(), *self._gateways.values()]
            self._entries.clear()
            self._gateways.clear()
        for entry in entries:
            entry.close()


@dataclass
class _Entry:
    identity: tuple[Any, ...]
    conn: Connection | None = None
    session: ShellSession | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def live_transport(self) -> paramiko.Transport | None:
        if self.conn is None:
            return None
        transport: paramiko.Transport | None = self.conn.client.get_transport()
        return transport if transport is not None and transport.is_active() else None

    def drop_session(self) -> None:
        if self.session is not None:
            with contextlib.suppress(Exception):
                self.session.close()
            self.session = None

    def close(self) -> None:
        self.drop_session()
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection must not mask the failure
                close_connection(self.conn)
            self.conn = None
