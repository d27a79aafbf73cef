"""Start and stop the HTTP server of ``serve``: aiohttp behind the connection guard, HTTPS when the
config names a certificate and key."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from opsagent.errors import ConfigError, ConfigIssue
from opsagent.httpd.config import WebConfig
from opsagent.httpd.guard import ConnectionGuard, connection_cap, raise_open_file_limit

log = logging.getLogger(__name__)
BACKLOG = 128


def server_tls_context(config: WebConfig) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 at least), or None for plain HTTP. ConfigError when the
    certificate or key cannot be loaded — the message names the file, never the key."""
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for name, path in (("web.tls_cert_file", config.tls_cert_file), ("web.tls_key_file", config.tls_key_file)):
        if not Path(path).is_file():
            raise ConfigError([ConfigIssue(str(path), None, name, "no such file")])
    try:
        context.load_cert_chain(str(config.tls_cert_file), str(config.tls_key_file))
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigError(
            [ConfigIssue(str(config.tls_cert_file), None, "web.tls_cert_file", f"cannot load with its key: {reason}")]
        ) from None
    return context


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, config: WebConfig) -> str | None:
    """What is readable by anyone reaching a non-loopback address (None when protected or local)."""
    if is_loopback(host) or (config.tls and config.read_auth):
        return None
    missing = " and ".join(m for m, on in (("TLS", config.tls), ("web.read_auth", config.read_auth)) if not on)
    return (
        f"listening on {host or 'every address'} without {missing}: metrics, incidents and runbook outputs "
        "are readable by anyone who reaches the port"
    )


@dataclass
class HttpServer:
    runner: web.AppRunner
    listener: asyncio.Server
    guard: ConnectionGuard
    scheme: str

    async def close(self) -> None:
        self.listener.close()
        await self.guard.close()
        await self.runner.cleanup()


async def start_http(web_app: web.Application, host: str, port: int, config: WebConfig) -> HttpServer:
    """Serve ``web_app`` on host:port until ``close()``. Errors before binding leave nothing open."""
    tls = server_tls_context(config)
    guard = ConnectionGuard(config, connection_cap(config.max_connections, raise_open_file_limit()))
    web_app.middlewares.insert(0, guard.middleware)  # outermost: sees every request
    # aiohttp's own idle close is a backstop behind the guard's header_timeout
    runner = web.AppRunner(web_app, access_log=None, keepalive_timeout=2 * config.header_timeout)
    await runner.setup()
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    try:
        listener = await loop.create_server(
            guard.protocol_factory(runner.server),
            host,
            port,
            ssl=tls,
            ssl_handshake_timeout=config.header_timeout if tls is not None else None,
            backlog=BACKLOG,
            reuse_address=True,
        )
    except BaseException:
        await runner.cleanup()
        raise
    guard.start()
    if (warning := exposure_warning(host, config)) is not None:
        log.warning("%s", warning)
    return HttpServer(runner, listener, guard, "https" if tls is not None else "http")
