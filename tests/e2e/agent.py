"""Run a real `opsagent serve` process for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.peers.ports import free_port

T = TypeVar("T")


def agent_env(home: Path) -> dict[str, str]:
    env = os.environ | {"OPSAGENT_HOME": str(home)}
    env.pop("OPSAGENT_STORE", None)
    env.pop("OPSAGENT_CONFIG", None)
    return env


def opsagent(*args: str, home: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsagent", *args],
        env=agent_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    log: Path | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            last = predicate()
            if last:
                return last  # type: ignore[return-value]
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{tail}")


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, accept: str | None = None) -> tuple[int, str, str]:
        request = urllib.request.Request(self.url + path, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM as an operator stops serve; SIGKILL only if it has not exited within 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def start_agent(home: Path) -> Agent:
    """Start `opsagent serve` with OPSAGENT_HOME=home on a free port; wait for /healthz."""
    port = free_port()
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
            env=agent_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    agent = Agent(proc, port, home, log)
    wait_until(lambda: agent.get("/healthz")[0] == 200, 30, "/healthz", log, proc)
    return agent


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def serving(home: Path, env: Mapping[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """A real ``opsagent serve`` (OPSAGENT_HOME=home, plus ``env``) on a free port, healthy for the
    block (proc, port, log); SIGTERM after it, as an operator stops it."""
    port, log = free_port(), home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{port}"],
            env=agent_env(home) | dict(env or {}),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _healthy(port), 60, "/healthz", log, proc)
        yield proc, port, log
    finally:
        terminate(proc)
