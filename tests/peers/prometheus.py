"""A real Prometheus server (and promtool) for tests, on 127.0.0.1 and free ports.

Fixture:
    start_prometheus (session) -> factory:
        start_prometheus(targets: list[str], scrape_interval: str = "1s", *,
                         metrics_path: str = "/metrics", rule_files: list[Path] | None = None,
                         scrape_self: bool = False, scrape_options: dict | None = None,
                         scrape_configs: list[dict] | None = None)
            -> PrometheusHandle (.url, .query(expr), .wait_for(expr, timeout), .targets(), .stop())
        Every Prometheus started through it is stopped at session end.
Helpers:
    promtool_check_metrics(text) -> (exit code, output)
    run_promtool(args, stdin=None) -> (exit code, output)
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

JOB = "opsagent"
INSTALL_HINT = "install the Debian package `prometheus` (bash scripts/test.sh does it)"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` not found on PATH: {INSTALL_HINT}", pytrace=False)
    return path


def run_promtool(args: Sequence[str], stdin: str | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run ``promtool ARGS`` (stdin optional); return (exit code, stdout + stderr)."""
    res = subprocess.run(
        [_binary("promtool"), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return res.returncode, res.stdout + res.stderr


def promtool_check_metrics(text: str) -> tuple[int, str]:
    """Lint an exposition text with ``promtool check metrics``: (exit code, findings).

    Exit 0 = valid (lint warnings would make it 3), 1 = unparsable.
    """
    return run_promtool(["check", "metrics"], stdin=text)


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class PrometheusHandle:
    """One running Prometheus scraping ``targets`` as job ``opsagent``."""

    def __init__(self, daemon: Daemon, port: int, base_dir: Path) -> None:
        self.daemon = daemon
        self.port = port
        self.base_dir = base_dir
        self.url = f"http://{LOCALHOST}:{port}"

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET /api/v1/<path>; the decoded JSON body (AssertionError on a non-JSON answer)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = _http_get(f"{self.url}/api/v1/{path}{query}")
        try:
            doc: dict[str, Any] = json.loads(body)
        except ValueError:
            raise AssertionError(f"GET /api/v1/{path} -> {status}: {body[:500]}") from None
        return doc

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; ``data.result`` (a list of {metric, value} for a vector result)."""
        doc = self.api("query", query=expr)
        if doc.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {doc}")
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        """Active targets with scrapeUrl, health, lastError, lastScrape."""
        active: list[dict[str, Any]] = self.api("targets").get("data", {}).get("activeTargets", [])
        return active

    def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``expr`` until its result is non-empty; AssertionError with diagnostics on timeout."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                result = self.query(expr)
            except (AssertionError, OSError) as exc:
                last = exc
            else:
                if result:
                    return result
                last = result
            time.sleep(0.25)
        raise AssertionError(
            f"{expr!r} still empty after {timeout:.0f} s; last answer: {last!r}\n{self._diagnostics()}"
        )

    def stop(self) -> None:
        self.daemon.stop()

    def _diagnostics(self) -> str:
        try:
            targets = [
                {k: t.get(k) for k in ("scrapeUrl", "health", "lastError", "lastScrape")} for t in self.targets()
            ]
        except (AssertionError, OSError) as exc:
            targets = [{"error": repr(exc)}]
        return (
            f"targets: {json.dumps(targets, indent=1)}\n"
            f"prometheus log tail ({self.daemon.log_path}):\n{self.daemon.log_tail()}"
        )


def write_config(
    path: Path,
    targets: Sequence[str],
    scrape_interval: str,
    metrics_path: str,
    rule_files: Sequence[Path],
    scrape_options: Mapping[str, Any] | None = None,
    scrape_configs: Sequence[dict[str, Any]] | None = None,
) -> None:
    """A config scraping ``targets`` as job ``opsagent`` (``scrape_options`` go into that job as given:
    ``scheme``, ``tls_config``, ``authorization``), or with the given ``scrape_configs``."""
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": list(scrape_configs)
        if scrape_configs is not None
        else [
            {
                "job_name": JOB,
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "metrics_path": metrics_path,
                "static_configs": [{"targets": list(targets)}],
                **(scrape_options or {}),
            }
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _ready(url: str) -> bool:
    try:
        return _http_get(f"{url}/-/ready", timeout=1.0)[0] == 200
    except OSError:
        return False


def launch_prometheus(
    base_dir: Path,
    targets: Sequence[str],
    scrape_interval: str = "1s",
    metrics_path: str = "/metrics",
    rule_files: Sequence[Path] = (),
    scrape_self: bool = False,
    attempts: int = 3,
    scrape_options: Mapping[str, Any] | None = None,
    scrape_configs: Sequence[dict[str, Any]] | None = None,
) -> PrometheusHandle:
    """Write a config into ``base_dir`` and start Prometheus; retried on another port if taken.

    ``scrape_self`` adds Prometheus' own address to the targets (its /metrics is a known-good target).
    """
    config = base_dir / "prometheus.yml"
    binary = _binary("prometheus")
    for attempt in range(1, attempts + 1):
        port = free_port()
        own = [f"{LOCALHOST}:{port}"] if scrape_self else []
        write_config(
            config, [*targets, *own], scrape_interval, metrics_path, rule_files, scrape_options, scrape_configs
        )
        argv = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={base_dir / 'data'}",
            f"--web.listen-address={LOCALHOST}:{port}",
            "--log.level=info",
        ]
        daemon = Daemon("prometheus", argv, base_dir / "prometheus.log", cwd=base_dir)
        handle = PrometheusHandle(daemon, port, base_dir)
        try:
            daemon.wait_ready(functools.partial(_ready, handle.url), timeout=30)
            return handle
        except RuntimeError:
            daemon.stop()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


class StartPrometheus(Protocol):
    def __call__(
        self,
        targets: list[str],
        scrape_interval: str = "1s",
        *,
        metrics_path: str = "/metrics",
        rule_files: list[Path] | None = None,
        scrape_self: bool = False,
        scrape_options: Mapping[str, Any] | None = None,
        scrape_configs: list[dict[str, Any]] | None = None,
    ) -> PrometheusHandle: ...


@pytest.fixture(scope="session")
def start_prometheus() -> Iterator[StartPrometheus]:
    """Factory: start_prometheus(targets, scrape_interval="1s", *, scrape_self=False) -> PrometheusHandle.

    Each call starts its own Prometheus (job ``opsagent``, given static targets, scrape
    interval = timeout = ``scrape_interval``; or the given ``scrape_configs``); all of them are
    stopped at session end.
    """
    root = Path(tempfile.mkdtemp(prefix="opsagent-prom-"))
    started: list[PrometheusHandle] = []

    def start(
        targets: list[str],
        scrape_interval: str = "1s",
        *,
        metrics_path: str = "/metrics",
        rule_files: list[Path] | None = None,
        scrape_self: bool = False,
        scrape_options: Mapping[str, Any] | None = None,
        scrape_configs: list[dict[str, Any]] | None = None,
    ) -> PrometheusHandle:
        base = Path(tempfile.mkdtemp(prefix=f"{len(started)}-", dir=root))
        handle = launch_prometheus(
            base,
            targets,
            scrape_interval,
            metrics_path,
            rule_files or [],
            scrape_self,
            scrape_options=scrape_options,
            scrape_configs=scrape_configs,
        )
        started.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in started:
            handle.stop()
        shutil.rmtree(root, ignore_errors=True)
