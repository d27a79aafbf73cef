"""The agent's own host is inspectable out of the box: on the seeded store (localhost, no sshd
anywhere) the flagship linux-host-inspection runs its ``ssh`` steps locally and reports real checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.runbooks.transports import is_local
from tests.peer.rbhelpers import Home, make_home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return make_home(tmp_path, monkeypatch)


def test_linux_host_inspection_runs_on_the_seeded_localhost_without_sshd(home: Home) -> None:
    checked = home.cli("runbook", "run", "linux-host-inspection", "--check")
    assert checked.exit_code == 0, checked.output
    result = home.cli("runbook", "run", "linux-host-inspection")
    run = home.json("runbook", "runs")[0]
    detail = home.json("runbook", "show", str(run["id"]))
    assert {t["asset"] for t in detail["targets"]} == {"localhost"}
    not_ok = [(s["path"], s["status"], s["message"]) for s in detail["steps"] if s["status"] not in ("ok", "skipped")]
    assert not not_ok, (not_ok, result.output)
    checks = {s["path"]: s["checks"][0] for s in detail["steps"] if s["checks"]}
    assert len(checks) >= 10
    assert not [p for p, c in checks.items() if c["status"] == "error"], checks
    memory = checks["memory available"]["value"]
    assert memory.endswith("% available") and memory.split("%")[0].isdigit()  # a real reading of this host
    assert run["status"] in ("succeeded", "failed")  # failed only if a real check of this host fails


def test_which_assets_are_the_agents_own_host() -> None:
    local = [CollectorSpec(name="local")]
    assert is_local(Asset(name="a", collectors=local), {})
    assert is_local(Asset(name="b"), {"ansible_connection": "local"})
    assert not is_local(Asset(name="c", collectors=local), {"ansible_connection": "ssh"})
    assert not is_local(Asset(name="d", collectors=[*local, CollectorSpec(name="ssh")]), {})
    assert not is_local(Asset(name="e", collectors=local, credentials={"ssh": {"user": "x"}}), {})
    assert not is_local(Asset(name="f", address="10.0.0.1"), {})
