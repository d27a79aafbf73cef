"""A SQLite store serves one agent: a second real `opsagent serve` on the same file is refused with
exit 3 and a clear message (zh and en), and a kill -9'd holder leaves no stale lock behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.agent import agent_env, serving
from tests.peers.ports import free_port


def _second(home: Path, lang: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsagent", "serve", "--listen", f"127.0.0.1:{free_port()}"],
        env=agent_env(home) | {"LANG": lang},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_second_serve_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path) as (proc, _port, _log):
        second = _second(tmp_path, "en_US.UTF-8")
        assert second.returncode == 3, second.stderr
        assert "already served by another opsagent serve" in second.stderr
        assert f"pid {proc.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        chinese = _second(tmp_path, "zh_CN.UTF-8")
        assert chinese.returncode == 3
        assert "已由另一个 opsagent serve" in chinese.stderr
        assert proc.poll() is None  # the first agent serves on


def test_kill_9_leaves_no_stale_lock(tmp_path: Path) -> None:
    with serving(tmp_path) as (proc, _port, _log):
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert (tmp_path / "opsagent.db.lock").exists()  # the file stays; the kernel's lock went with the process
    with serving(tmp_path) as (again, _port, _log):
        assert again.poll() is None
