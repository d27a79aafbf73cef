"""The connection guard over real sockets on 127.0.0.1: idle and half-sent requests are closed after
header_timeout, a client that reads nothing is dropped after send_timeout, the cap makes room by closing
the connection idle longest, and all of it is logged as one summary, not per connection."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from aiohttp import web

from opsagent.httpd.config import WebConfig
from opsagent.httpd.guard import connection_cap
from opsagent.httpd.site import HttpServer, start_http

BIG = b"x" * 256 * 1024


async def _serve(config: WebConfig) -> HttpServer:
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def big(_request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    web_app = web.Application()
    web_app.router.add_get("/", hello)
    web_app.router.add_get("/big", big)
    return await start_http(web_app, "127.0.0.1", 0, config)


def _port(http: HttpServer) -> int:
    return int(http.listener.sockets[0].getsockname()[1])


async def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``sock`` (reads EOF or a reset); fails after ``seconds``."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    while time.monotonic() - started < seconds:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 0.5)
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
        if data == b"":
            return time.monotonic() - started
    raise AssertionError(f"still open after {seconds} s")


async def _get(port: int, path: str = "/") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data.decode(errors="replace")


async def test_half_sent_headers_are_closed_after_the_header_timeout(caplog: pytest.LogCaptureFixture) -> None:
    http = await _serve(WebConfig(header_timeout=0.5))
    try:
        silent = socket.create_connection(("127.0.0.1", _port(http)))
        partial = socket.create_connection(("127.0.0.1", _port(http)))
        partial.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        await _closed_within(silent, 10)
        await _closed_within(partial, 10)
        assert time.monotonic() - started >= 0.4
        assert (await _get(_port(http))).startswith("HTTP/1.1 200")
        assert http.guard.counters.idle == 2
    finally:
        with caplog.at_level(logging.WARNING):
            await http.close()
    summary = [r.getMessage() for r in caplog.records if r.name == "opsagent.httpd.guard"]
    assert len(summary) == 1 and "closed 2 connection(s) without a request within 0.5s" in summary[0]


async def test_a_client_that_reads_nothing_is_dropped_after_the_send_timeout() -> None:
    http = await _serve(WebConfig(header_timeout=30, send_timeout=0.5))
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", _port(http)))
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * 40)  # 10 MB of answers, none read
        waited = time.monotonic()
        while http.guard.counters.stalled == 0 and time.monotonic() - waited < 20:
            await asyncio.sleep(0.1)
        assert http.guard.counters.stalled == 1
        assert http.guard.open_connections == 0
        assert (await _get(_port(http))).startswith("HTTP/1.1 200")
    finally:
        await http.close()


async def test_at_the_cap_the_connection_idle_longest_makes_room() -> None:
    http = await _serve(WebConfig(max_connections=4, header_timeout=60))
    try:
        idle = [socket.create_connection(("127.0.0.1", _port(http))) for _ in range(8)]
        for sock in idle:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        assert (await _get(_port(http))).startswith("HTTP/1.1 200")  # answered although 8 idle came first
        assert http.guard.open_connections <= 4
        assert http.guard.counters.evicted >= 5
        assert await _closed_within(idle[0], 5) >= 0  # the oldest went first
        for sock in idle:
            sock.close()
    finally:
        await http.close()


def test_the_cap_stays_under_half_the_open_file_limit() -> None:
    assert connection_cap(512, 1024) == 512
    assert connection_cap(512, 256) == 128
    assert connection_cap(10_000, 4) == 4


async def test_with_no_connection_the_sweeper_sleeps_and_the_next_one_still_times_out() -> None:
    """No connection, nothing to summarise: the sweeper waits for the next connection instead of waking
    every second (an idle agent between two scrapes); that connection is still swept on time."""
    http = await _serve(WebConfig(header_timeout=0.4))
    try:
        assert (await _get(_port(http))).startswith("HTTP/1.1 200")
        deadline = time.monotonic() + 5
        while http.guard._busy is not None and http.guard._busy.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert http.guard._busy is not None and not http.guard._busy.is_set()  # parked
        silent = socket.create_connection(("127.0.0.1", _port(http)))
        closed_after = await _closed_within(silent, 10)
        assert 0.3 <= closed_after < 5
        assert http.guard.counters.idle == 1
    finally:
        await http.close()
