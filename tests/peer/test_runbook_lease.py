"""A run killed with SIGKILL inside a container — the agent as PID 1 of its own PID namespace, with
another hostname (a restarted pod) — is found interrupted once its lease expires: neither its PID nor
its hostname can tell (PID 1 is alive here, and the hostname is not ours)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from opsagent.store import Store
from opsagent.store import runbook_repo as runs
from tests.peer.rbhelpers import Home, make_home

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1) for a PID namespace"
)

SLOW = """\
name: slow
targets: localhost
steps:
  - name: first
    shell: "echo started"
  - name: long
    shell: "sleep 120"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return make_home(tmp_path, monkeypatch)


def _wait(what: str, probe: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _noted_long(store: Store) -> dict[str, Any] | None:
    rows = runs.list_runs(store, "slow")
    run = runs.get_run(store, rows[0]["id"]) if rows else None
    return run if run and any(t["message"] == "running: long" for t in run["targets"]) else None


def _lease(store: Store, run_id: int) -> Any:
    run = runs.get_run(store, run_id)
    assert run is not None
    return run["lease_until"]


def _namespace_init(proc: subprocess.Popen[bytes]) -> int:
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return int(children[0])


def test_a_run_killed_as_pid_1_of_a_restarted_pod_is_interrupted_after_its_lease(home: Home) -> None:
    home.runbook("slow.yaml", SLOW)
    env = {**os.environ, **home.env, "OPSAGENT_RUNBOOK_LEASE": "4"}
    script = 'hostname restarted-pod && exec "$0" -m opsagent runbook run slow'
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "--uts", "sh", "-c", script, sys.executable],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    store = Store(f"sqlite:///{home.path / 'opsagent.db'}")
    try:
        run = _wait("the run to start its long step", lambda: _noted_long(store))
        assert (run["pid"], run["hostname"]) == (1, "restarted-pod") != (os.getpid(), socket.gethostname())
        os.kill(_namespace_init(proc), signal.SIGKILL)  # the whole namespace dies with its PID 1
        proc.wait(timeout=30)
        rows = _wait(
            "the expired lease to mark the run interrupted",
            lambda: [r for r in home.json("runbook", "runs") if r["id"] == run["id"] and r["status"] == "interrupted"],
        )
        assert rows[0]["finished_at"] is not None
        detail = home.json("runbook", "show", str(run["id"]))
        assert [(s["path"], s["status"]) for s in detail["steps"]] == [("first", "ok"), ("long", "interrupted")]
        assert [(t["asset"], t["status"], t["message"]) for t in detail["targets"]] == [
            ("localhost", "interrupted", "interrupted during step 'long'")
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        store.close()


def test_a_live_run_renews_its_lease_and_is_not_reaped(home: Home) -> None:
    home.runbook("slow.yaml", SLOW.replace("sleep 120", "sleep 5"))
    env = {**os.environ, **home.env, "OPSAGENT_RUNBOOK_LEASE": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsagent", "runbook", "run", "slow"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    store = Store(f"sqlite:///{home.path / 'opsagent.db'}")
    try:
        run = _wait("the run to start its long step", lambda: _noted_long(store))
        first_lease = run["lease_until"]
        _wait("a renewed lease", lambda: _lease(store, run["id"]) > first_lease)
        assert proc.wait(timeout=120) == 0
        assert runs.get_run(store, run["id"])["status"] == "succeeded"  # type: ignore[index]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        store.close()
