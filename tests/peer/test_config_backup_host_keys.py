"""Configuration backup (netmiko) under the SSH collector's host-key policy, against an SSH server
answering like IOS: ``vars.accept_unknown_host_key: true`` records the device's key on first
contact, and the same port answering with another key is then refused as ``hostkey_mismatch``."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.collectors.ssh.errors import SshFailure
from opsagent.inventory.model import Asset
from opsagent.netcli.backup import _classify, fetch
from tests.peers.netdevice import ENABLE, PASSWORD, USER, start_device, stop_device

pytestmark = pytest.mark.peer


def test_backup_pins_the_device_key_and_refuses_a_changed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPSAGENT_T_CLI_PW", PASSWORD)
    monkeypatch.setenv("OPSAGENT_T_CLI_EN", ENABLE)
    device, thread = start_device("cisco_ios")
    asset = Asset(
        name="sw-hk",
        kind="network",
        address="127.0.0.1",
        port=device.port,
        credentials={"cli": {"user": USER, "password": "env:OPSAGENT_T_CLI_PW", "secret": "env:OPSAGENT_T_CLI_EN"}},
        vars={"device_type": "cisco_ios", "accept_unknown_host_key": True},
    )
    try:
        config, _version = fetch(asset, timeout=20)
    finally:
        stop_device(device, thread)
    assert "hostname" in config
    pins = (tmp_path / "home" / "known_hosts").read_text()
    assert pins.startswith(f"[127.0.0.1]:{device.port} ssh-ed25519 ")
    # Another device (another host key) on the same address and port.
    device, thread = start_device("cisco_ios", port=device.port)
    try:
        with pytest.raises(SshFailure) as refused:
            fetch(asset, timeout=20)
    finally:
        stop_device(device, thread)
    assert _classify(refused.value) == "hostkey_mismatch"
    assert (tmp_path / "home" / "known_hosts").read_text() == pins
