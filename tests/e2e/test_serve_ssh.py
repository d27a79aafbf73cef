"""`opsagent serve` with an SSH asset whose server never sends its banner: each failed poll is one
warning line with its reason, and paramiko's transport-thread tracebacks stay out of the log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.agent import start_agent, wait_until
from tests.peers.sshd import SshServer

pytestmark = pytest.mark.peer


def test_failed_ssh_polls_log_one_warning_line_each(tmp_path: Path, sshd_server: SshServer, silent_port: int) -> None:
    (tmp_path / "inv.yaml").write_text(f"""\
assets:
  - name: silent
    address: 127.0.0.1
    port: {silent_port}
    credentials: {{ssh: {{user: {sshd_server.user}, key_file: {sshd_server.client_key}}}}}
    collectors:
      - {{name: ssh, profile: linux, interval: 3s, timeout: 10s,
          options: {{connect_timeout: 1, known_hosts: ["{sshd_server.known_hosts}"]}}}}
  - name: good
    address: 127.0.0.1
    port: {sshd_server.port}
    credentials: {{ssh: {{user: {sshd_server.user}, key_file: {sshd_server.client_key}}}}}
    collectors:
      - {{name: ssh, profile: linux, interval: 3s, options: {{known_hosts: ["{sshd_server.known_hosts}"]}}}}
""")
    (tmp_path / "opsagent.yaml").write_text("seed_inventory: [inv.yaml]\ncollector_settings: {ssh: {max_workers: 4}}\n")
    agent = start_agent(tmp_path)
    try:
        pattern = re.compile(r"poll silent/ssh: timeout \(timeout\) .*no SSH handshake within 1s")
        wait_until(
            lambda: len(pattern.findall(agent.log.read_text())) >= 2, 40, "two failed polls", agent.log, agent.proc
        )
        body = wait_until(
            lambda: (lambda b: b if 'opsagent_up{asset="good",collector="ssh"} 1.0' in b else None)(
                agent.get("/metrics")[2]
            ),
            30,
            "the good host polled",
            agent.log,
            agent.proc,
        )
        assert 'node_load1{asset="good"}' in body
    finally:
        agent.stop()
    log = agent.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "paramiko" not in log.lower() and "protocol banner" not in log, log[-3000:]
    failures = [line for line in log.splitlines() if "silent/ssh" in line]
    assert failures and all(pattern.search(line) for line in failures), failures
