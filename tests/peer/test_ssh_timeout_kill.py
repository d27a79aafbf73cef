"""A check that runs past the command timeout is killed on the host, with everything it started,
against a real sshd: nothing is left running, and the next poll on the same connection works."""

from __future__ import annotations

import uuid

import pytest

from opsagent.collectors.base import Outcome
from opsagent.collectors.ssh import SshCollector
from opsagent.collectors.ssh.connection import Pool
from opsagent.collectors.ssh.options import SshOptions
from opsagent.inventory.model import Asset, CollectorSpec
from opsagent.runbooks.results import FAILED, TIMEOUT
from opsagent.runbooks.transports import run_ssh
from tests.peers.sshd import SshServer
from tests.unit.test_ssh_watchdog import gone, live

pytestmark = pytest.mark.peer


async def test_a_timed_out_check_leaves_no_process_behind(sshd_server: SshServer) -> None:
    token = uuid.uuid4().hex[:8]
    hung = f"sh -c 'sleep 3600 # {token}' & sleep 3601 # {token}"  # a child of its own, as a hung df
    checks = [
        {"name": "loadavg", "command": "cat /proc/loadavg", "parser": "loadavg"},
        {"name": "hung", "command": hung, "parser": "loadavg", "required": False},
    ]
    quick = checks[:1]
    asset = Asset(
        name="hung",
        address=sshd_server.host,
        port=sshd_server.port,
        credentials={"ssh": {"user": sshd_server.user, "key_file": str(sshd_server.client_key)}},
    )
    options = {"known_hosts": [str(sshd_server.known_hosts)], "command_timeout": 3}
    collector = SshCollector(max_workers=2)
    try:
        result = await collector.collect(asset, CollectorSpec(name="ssh", options={**options, "checks": checks}), {})
        assert (result.outcome, result.reason) == (Outcome.TIMEOUT, "timeout"), result.message
        assert "killed" in result.message
        assert gone(token), f"left running on the host: {live(token)}"
        # The connection stays; a new shell answers the next poll.
        again = await collector.collect(asset, CollectorSpec(name="ssh", options={**options, "checks": quick}), {})
        assert again.ok, again.message
        assert [s.value for s in again.samples if s.name == "opsagent_ssh_connection_reused"] == [1.0]
    finally:
        collector.close()


def test_a_timed_out_runbook_ssh_step_leaves_no_process_behind(sshd_server: SshServer) -> None:
    """The runbook ``ssh`` step path (one script on a new channel of the pooled connection) has the
    same watchdog; a step in time keeps its output and exit status (an ``exit`` in it included)."""
    token = uuid.uuid4().hex[:8]
    asset = Asset(
        name="rb-hung",
        address=sshd_server.host,
        port=sshd_server.port,
        credentials={"ssh": {"user": sshd_server.user, "key_file": str(sshd_server.client_key)}},
    )
    options = SshOptions(known_hosts=[str(sshd_server.known_hosts)])
    pool = Pool()
    try:
        hung = run_ssh(pool, asset, options, f"echo started; sleep 3602 # {token}", 3.0, False, 65536)
        assert hung.status == TIMEOUT, hung.message
        assert gone(token), f"left running on the host: {live(token)}"
        done = run_ssh(pool, asset, options, "echo out; echo err >&2; exit 3", 10.0, False, 65536)
        assert (done.status, done.rc, done.stdout) == (FAILED, 3, "out\n")
        assert done.stderr.endswith("err\n")  # after sshd's own "Could not chdir to home directory"
    finally:
        pool.close()
