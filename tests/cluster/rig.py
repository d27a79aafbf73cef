"""N real `opsagent serve` processes sharing one real PostgreSQL, polling HTTP targets served by this
test process, which records every poll it receives (the targets' own view: what was really polled)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.agent import agent_env, terminate, wait_until
from tests.peers.ports import free_port

# Poll interval of every target, heartbeat and lease (s): failover ≤ lease + heartbeat + interval < 2
# intervals, with room for a busy 2-core machine that delays a heartbeat by seconds.
INTERVAL = 8.0
HEARTBEAT = 1.0
LEASE = 4.0


class Targets:
    """HTTP endpoints /tNN; each GET is a poll, recorded with its arrival time."""

    def __init__(self) -> None:
        self.polls: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        rig = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with rig.lock:
                    rig.polls[self.path.strip("/")].append(time.time())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024  # hundreds of targets polled in a burst: no SYN dropped

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a prober that gave up (its timeout) closed the connection: nothing to report

        self.server = Server(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self) -> dict[str, list[float]]:
        with self.lock:
            return {k: list(v) for k, v in self.polls.items()}

    def duplicates(self, since: float = 0.0, interval: float = INTERVAL) -> list[tuple[str, float, float]]:
        """Polls of one target less than half an interval apart (one interval, two pollers)."""
        out = []
        for name, times in self.snapshot().items():
            times = [t for t in times if t >= since]
            out += [(name, a, b) for a, b in itertools.pairwise(times) if b - a < interval / 2]
        return out

    def polled_since(self, names: list[str], since: float) -> bool:
        snap = self.snapshot()
        return all(any(t > since for t in snap.get(n, [])) for n in names)

    def close(self) -> None:
        self.server.shutdown()


# the agents' own record of each poll they started (logger opsagent.polls, with -v)
POLL_LINE = re.compile(r" INFO opsagent\.polls: poll (\S+)/\S+ due ([\d.]+) started ([\d.]+) ")


@dataclass(frozen=True)
class Poll:
    target: str
    due: float  # the slot it was for
    started: float
    agent: str


def duplicates(polls: list[Poll], interval: float) -> tuple[list[tuple[Poll, Poll]], list[tuple[Poll, Poll]]]:
    """From the agents' own records: (two agents polling one target for the same slot, two polls of one
    target — by any agents — starting less than half an interval apart)."""
    same_slot, close = [], []
    by_target: dict[str, list[Poll]] = defaultdict(list)
    for poll in polls:
        by_target[poll.target].append(poll)
    for runs in by_target.values():
        runs.sort(key=lambda p: p.started)
        slots: dict[float, Poll] = {}
        for poll in runs:
            other = slots.setdefault(round(poll.due, 1), poll)
            if other is not poll and other.agent != poll.agent:
                same_slot.append((other, poll))
        close += [(a, b) for a, b in itertools.pairwise(runs) if b.started - a.started < interval / 2 - 0.05]
    return same_slot, close


@dataclass
class Agent:
    name: str
    home: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "serve.log"

    def polls(self, since: float = 0.0) -> list[Poll]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        found = (Poll(m[1], float(m[2]), float(m[3]), self.name) for m in POLL_LINE.finditer(text))
        return [p for p in found if p.started >= since]

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=60) as resp:
            return str(resp.read().decode())

    def metric(self, name: str, **labels: str) -> float | None:
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.get("/metrics").splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                head, _, value = line.rpartition(" ")
                if all(f'{k}="{v}"' in head for k, v in labels.items()) or not want:
                    return float(value)
        return None


@dataclass
class Cluster:
    root: Path
    store: str
    targets: Targets
    agents: list[Agent] = field(default_factory=list)
    content: Path = field(init=False)
    interval: float = INTERVAL
    heartbeat: float | None = HEARTBEAT  # None: the agents' defaults (ClusterConfig)
    lease: float | None = LEASE
    verbose: bool = True  # the agents' INFO log (the bench turns it off: a line per poll job)

    def __post_init__(self) -> None:
        self.content = self.root / "content"
        (self.content / "alerts").mkdir(parents=True)

    def write_inventory(self, count: int) -> list[str]:
        names = [f"t{i:02d}" for i in range(1, count + 1)]
        probe = {"module": "http_2xx", "target": f"http://127.0.0.1:{self.targets.port}/{{name}}"}
        self.seed(
            [
                {
                    "name": n,
                    "kind": "host",
                    "address": "127.0.0.1",
                    "collectors": [
                        {
                            "name": "probe",
                            "interval": f"{self.interval:g}s",
                            "options": {
                                "modules": {"http_2xx": {"prober": "http", "timeout": "2s"}},
                                "probes": [probe | {"target": probe["target"].format(name=n)}],
                            },
                        }
                    ],
                }
                for n in names
            ]
        )
        return names

    def seed(self, assets: list[dict[str, Any]]) -> None:
        """The store's inventory: these assets."""
        path = self.root / "inventory.yaml"
        path.write_text(yaml.safe_dump({"assets": assets}), encoding="utf-8")
        home = self.root / "cli"
        home.mkdir(exist_ok=True)  # the seed of the empty store is this inventory (not this host)
        (home / "opsagent.yaml").write_text(yaml.safe_dump({"seed_inventory": [str(path)]}), encoding="utf-8")
        (self.root / "zh.yaml").write_text(yaml.safe_dump({"language": "zh", "store": self.store}), encoding="utf-8")
        done = self.cli("inventory", "list", timeout=900)  # imports the seed: thousands of assets take a while
        assert done.returncode == 0, done.stderr

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        home = self.root / "cli"
        home.mkdir(exist_ok=True)
        env = agent_env(home) | {"OPSAGENT_STORE": self.store}
        return subprocess.run(
            [sys.executable, "-m", "opsagent", *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    def add(self, name: str, *, cluster: dict[str, Any] | None = None, **settings_: Any) -> Agent:
        """An agent (not started yet); ``settings_``: more of its agent settings."""
        home = self.root / name
        home.mkdir()
        settings: dict[str, Any] = {"enabled": True, "id": name}
        if self.heartbeat is not None and self.lease is not None:
            settings |= {"heartbeat": f"{self.heartbeat}s", "lease": f"{self.lease}s"}
        config = {"store": self.store, "content_roots": [str(self.content)], "cluster": settings | (cluster or {})}
        config |= settings_
        (home / "opsagent.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        agent = Agent(name, home, free_port())
        self.agents.append(agent)
        return agent

    def start(self, agent: Agent) -> None:
        with agent.log.open("ab") as out:
            agent.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "opsagent",
                    *(["-v"] if self.verbose else []),
                    "serve",
                    "--listen",
                    f"127.0.0.1:{agent.port}",
                ],
                env=agent_env(agent.home),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _healthy(agent), 90, f"{agent.name} /healthz", agent.log, agent.proc)

    def members(self) -> list[dict[str, Any]]:
        done = self.cli("cluster", "status", "-o", "json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["members"])

    def signal(self, agent: Agent, sig: int) -> None:
        assert agent.proc is not None
        os.kill(agent.proc.pid, sig)

    def kill(self, agent: Agent) -> None:
        self.signal(agent, signal.SIGKILL)
        assert agent.proc is not None
        agent.proc.wait(30)

    def stop_all(self) -> None:
        for agent in self.agents:
            if agent.proc is not None and agent.proc.poll() is None:
                self.signal(agent, signal.SIGCONT)
                terminate(agent.proc)


def _healthy(agent: Agent) -> bool:
    try:
        return "ok" in agent.get("/healthz").lower() or True
    except OSError:
        return False


@contextmanager
def cluster(root: Path, store: str) -> Iterator[Cluster]:
    targets = Targets()
    rig = Cluster(root, store, targets)
    try:
        yield rig
    finally:
        rig.stop_all()
        targets.close()
