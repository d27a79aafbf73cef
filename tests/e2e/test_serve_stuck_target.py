"""A target whose poll blocks in the kernel (a FIFO read that never returns, like a dead NFS
mount) times out, is never polled twice at once, never delays the other target, and does not
keep a SIGTERMed agent alive."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.agent import start_agent, wait_until

pytestmark = pytest.mark.peer


def _write_content(home: Path) -> None:
    fake_proc = home / "fakeproc"
    fake_proc.mkdir(parents=True)
    os.mkfifo(fake_proc / "meminfo")  # open() blocks forever: no writer ever comes
    (home / "inv.yaml").write_text(f"""\
assets:
  - name: healthy
    collectors: [{{name: local, interval: 2s}}]
  - name: stuck
    collectors: [{{name: local, interval: 2s, timeout: 1s, options: {{proc_path: "{fake_proc}"}}}}]
""")
    (home / "opsagent.yaml").write_text("seed_inventory: [inv.yaml]\n")


def _value(text: str, family: str, **labels: str) -> float | None:
    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            for s in fam.samples:
                if all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
    return None


def test_stuck_target(tmp_path: Path) -> None:
    _write_content(tmp_path)
    agent = start_agent(tmp_path)
    proc, log = agent.proc, agent.log
    try:

        def skipped_twice() -> str | None:
            body = agent.get("/metrics")[2]
            skipped = _value(body, "opsagent_collect_skipped", asset="stuck")
            return body if skipped is not None and skipped >= 2 else None

        body = wait_until(skipped_twice, 30, "skipped polls of the stuck target", log, proc)
        assert _value(body, "opsagent_up", asset="stuck") == 0.0
        assert _value(body, "opsagent_collect_errors", asset="stuck", reason="timeout") == 1.0
        # The healthy target kept its 2 s rhythm while the other one hung.
        assert _value(body, "opsagent_up", asset="healthy") == 1.0
        last = _value(body, "opsagent_collect_last_success_timestamp_seconds", asset="healthy")
        assert last is not None and time.time() - last < 6
        assert _value(body, "node_load1", asset="healthy") is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=20)
    assert code == 0, log.read_text()[-2000:]
    assert time.monotonic() - started < 8
    assert "abandoning 1 stuck poll thread" in log.read_text()
