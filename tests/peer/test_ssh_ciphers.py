"""The cipher a poll's connection negotiates with a real sshd: AES-GCM when the server offers it (as
OpenSSH does by default), else paramiko's usual order; sshd's own debug log says what was agreed."""

from __future__ import annotations

import re

import paramiko
import pytest

from opsagent.collectors.ssh import SshCollector
from opsagent.collectors.ssh.hostkeys import AEAD_FIRST, aead_first
from opsagent.inventory.model import Asset, CollectorSpec
from tests.peers.sshd import running_sshd

pytestmark = pytest.mark.peer
CHECKS = [{"name": "loadavg", "command": "cat /proc/loadavg", "parser": "loadavg"}]
_KEX = re.compile(r"kex: client->server cipher: (\S+)")


async def poll_and_read_cipher(extra: str) -> str:
    """One poll of an sshd started with ``extra`` config lines and debug logging; the cipher it logged."""
    with running_sshd(f"LogLevel DEBUG1\n{extra}") as server:
        asset = Asset(
            name="c",
            address=server.host,
            port=server.port,
            credentials={"ssh": {"user": server.user, "key_file": str(server.client_key)}},
        )
        options = {"checks": CHECKS, "known_hosts": [str(server.known_hosts)], "persistent": False}
        collector = SshCollector(max_workers=1)
        try:
            result = await collector.collect(asset, CollectorSpec(name="ssh", options=options, timeout=30), {})
        finally:
            collector.close()
        assert result.ok, result.message
        found = _KEX.findall((server.base_dir / "sshd.log").read_text())
        assert found, "sshd logged no kex line"
        return found[-1]


async def test_a_default_openssh_server_gets_aes_gcm() -> None:
    if "aes128-gcm@openssh.com" not in paramiko.Transport._preferred_ciphers:
        pytest.fail(f"paramiko {paramiko.__version__} has no AES-GCM: pyproject.toml pins paramiko>=3.5")
    assert await poll_and_read_cipher("") == "aes128-gcm@openssh.com"


async def test_a_server_without_gcm_gets_the_usual_cipher() -> None:
    assert await poll_and_read_cipher("Ciphers aes256-ctr,aes128-ctr") == "aes128-ctr"


def test_gcm_moves_to_the_front_only_when_offered() -> None:
    default = ("aes128-ctr", "aes256-ctr", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
    assert aead_first(default) == (*AEAD_FIRST, "aes128-ctr", "aes256-ctr")
    # disabled (paramiko leaves it out of the list) or missing: the order stays
    assert aead_first(("aes128-ctr", "aes256-gcm@openssh.com")) == ("aes256-gcm@openssh.com", "aes128-ctr")
    assert aead_first(("aes128-ctr", "aes256-ctr")) == ("aes128-ctr", "aes256-ctr")
