"""Slowloris against a real ``opsagent serve`` under a low open-file limit: many connections trickling
header lines never finish a request. /metrics still answers, the stalled sockets are closed after the
header timeout, and the log says so in a line or two, not per connection (issue 20 item 8: 1,100 such
connections made /metrics unreachable under a 1024-file limit and wrote 18 MB of log in 20 s)."""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.agent import agent_env, terminate, wait_until
from tests.peers.ports import free_port

pytestmark = pytest.mark.peer

FILE_LIMIT = 256
SLOW = 300  # more connections than the agent may hold open files


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    (tmp_path / "opsagent.yaml").write_text("web: {max_connections: 64, header_timeout: 2s}\n")
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
            env=agent_env(tmp_path), stdout=out, stderr=subprocess.STDOUT, preexec_fn=_low_file_limit,
        )  # fmt: skip
    try:
        wait_until(lambda: _metrics(port)[0] == 200, 60, "/metrics", log, proc)
        yield port, log
    finally:
        terminate(proc)


def _metrics(port: int) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        resp.read()
        return resp.status, time.monotonic() - started


def _slowloris(port: int, stop: threading.Event) -> list[socket.socket]:
    socks = []
    for _ in range(SLOW):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        socks.append(sock)

    def trickle() -> None:
        while not stop.wait(0.5):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b"X-Slow: 1\r\n")

    threading.Thread(target=trickle, daemon=True).start()
    return socks


def _closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slowloris_neither_blocks_metrics_nor_floods_the_log(agent: tuple[int, Path]) -> None:
    port, log = agent
    log_before = log.stat().st_size
    stop = threading.Event()
    socks = _slowloris(port, stop)
    try:
        for _ in range(5):
            status, seconds = _metrics(port)
            assert status == 200 and seconds < 15  # a bound for a busy 2-core machine; it was never, before
            time.sleep(0.5)
        # every slow connection is closed: at the cap at once, the rest after the 2 s header timeout
        wait_until(lambda: all(_closed(s) for s in socks), 30, "every slowloris socket closed", log)
    finally:
        stop.set()
        for sock in socks:
            sock.close()
    grown = log.stat().st_size - log_before
    text = log.read_text(errors="replace")
    assert grown < 20_000, text[-3000:]
    assert "Traceback" not in text and "Too many open files" not in text
