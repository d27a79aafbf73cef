"""Configuration backup with netmiko (cisco_ios) against an SSH server answering like IOS: versions
are stored only on change, `opsagent config diff` shows a unified diff, secrets are masked."""

from __future__ import annotations

import pytest

from opsagent.netcli.configtext import mask, normalise
from tests.e2e.agent import opsagent
from tests.peers.netdevice import ENABLE, PASSWORD, USER, IosDevice

pytestmark = pytest.mark.peer

CONFIG = """!
! Last configuration change at 10:01:02 UTC Mon Mar 1 2024 by admin
version 15.2
hostname sw1
enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0
username admin privilege 15 secret 5 $1$abcd$0123456789abcdef
snmp-server community Pr1vate-Comm RO
tacacs-server key 7 0822455D0A16
interface GigabitEthernet0/1
 description uplink
 switchport mode trunk
!
end
"""


def test_backup_versions_and_masked_diff(ios_device: IosDevice, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_T_CLI_PW", PASSWORD)
    monkeypatch.setenv("OPSAGENT_T_CLI_EN", ENABLE)
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "assets:\n  - name: sw1\n    kind: network\n    address: 127.0.0.1\n"
        f"    port: {ios_device.port}\n"
        f"    credentials: {{cli: {{user: {USER}, password: 'env:OPSAGENT_T_CLI_PW',"
        " secret: 'env:OPSAGENT_T_CLI_EN'}}\n"
        "    vars: {device_type: cisco_ios, accept_unknown_host_key: true}\n"
    )
    assert opsagent("inventory", "import", str(inv), home=tmp_path).returncode == 0
    ios_device.set_config(CONFIG)
    first = opsagent("config", "backup", "sw1", home=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = opsagent("config", "backup", "sw1", "-o", "json", home=tmp_path)
    assert '"changed": false' in again.stdout and '"rev": 1' in again.stdout  # unchanged: no new version
    ios_device.set_config(
        CONFIG.replace(" description uplink", " description uplink to core")
        .replace("Pr1vate-Comm", "N3w-Comm")
        .replace("10:01:02", "11:00:00")
    )
    assert opsagent("config", "backup", "sw1", home=tmp_path).returncode == 0
    diff = opsagent("config", "diff", "sw1", home=tmp_path).stdout
    assert "--- sw1@1" in diff and "+++ sw1@2" in diff
    assert "- description uplink\n" in diff and "+ description uplink to core\n" in diff
    assert "Last configuration change" not in diff  # volatile lines are not changes
    for secret in ("Pr1vate-Comm", "N3w-Comm", "$1$mERr", "0822455D0A16", PASSWORD, ENABLE):
        assert secret not in diff
    show = opsagent("inventory", "show", "sw1", "-o", "json", home=tmp_path).stdout
    assert "15.2(4)E10" in show  # show version facts (cisco_ios parser) recorded
    versions = opsagent("config", "versions", "sw1", "-o", "json", home=tmp_path).stdout
    assert '"rev": 2' in versions and '"rev": 1' in versions


def test_wrong_password_is_a_clear_failure(ios_device: IosDevice, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSAGENT_T_CLI_PW", "wrong-pass-1")
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"assets:\n  - name: sw9\n    kind: network\n    address: 127.0.0.1\n    port: {ios_device.port}\n"
        f"    credentials: {{cli: {{user: {USER}, password: 'env:OPSAGENT_T_CLI_PW'}}}}\n"
        "    vars: {device_type: cisco_ios, accept_unknown_host_key: true}\n"
    )
    assert opsagent("inventory", "import", str(inv), home=tmp_path).returncode == 0
    done = opsagent("config", "backup", "sw9", "--timeout", "10", "-o", "json", home=tmp_path)
    assert done.returncode == 1 and '"reason": "auth"' in done.stdout and "wrong-pass-1" not in done.stdout


def test_masking_of_vrp_and_comware_lines() -> None:
    text = normalise(
        "snmp-agent community read cipher %^%#abc%^%#\r\n local-user admin password irreversible-cipher $1c$xyz\r\n"
        " super password level 3 cipher @%@%secret\r\nsysname core\r\n"
    )
    masked = mask(text)
    assert "%^%#abc" not in masked and "$1c$xyz" not in masked and "@%@%secret" not in masked
    assert "sysname core" in masked and masked.count("<removed>") == 3


VENDOR_CASES = {
    # device type: (fixture, facts that must be stored, a line to change, secrets that never show)
    "cisco_ios": ("ios_device", ["15.2(4)E10", "WS-C3750X-48P"], (" description uplink", " description uplink-2")),
    "huawei": ("huawei_device", ["NE40E-X2-M8A", "8.180"], (" description uplink-to-core", " description to-core-B")),
    "hp_comware": (
        "comware_device",
        ["FF 5945 32QSFP28 Switch", "7.1.070"],
        (" description uplink-to-core", " description x"),
    ),
}
SECRETS = ("Vrp-Comm-1", "Ospf-Key-1", "$1c$]Ka_Lq3Dq", "Cw-Comm-1", "Cw7HashValue", "Rad-Key-1", "Rotated-9")


@pytest.mark.parametrize("device_type", sorted(VENDOR_CASES))
def test_facts_backup_and_masked_diff_per_vendor(
    device_type: str, request: pytest.FixtureRequest, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture, facts, (old_line, new_line) = VENDOR_CASES[device_type]
    device = request.getfixturevalue(fixture)
    monkeypatch.setenv("OPSAGENT_T_CLI_PW", PASSWORD)
    monkeypatch.setenv("OPSAGENT_T_CLI_EN", ENABLE)
    (tmp_path / "inv.yaml").write_text(
        f"assets:\n  - name: dev1\n    kind: network\n    address: 127.0.0.1\n    port: {device.port}\n"
        f"    credentials: {{cli: {{user: {USER}, password: 'env:OPSAGENT_T_CLI_PW',"
        " secret: 'env:OPSAGENT_T_CLI_EN'}}\n"
        f"    vars: {{device_type: {device_type}, accept_unknown_host_key: true}}\n"
    )
    assert opsagent("inventory", "import", str(tmp_path / "inv.yaml"), home=tmp_path).returncode == 0
    first = opsagent("config", "backup", "dev1", "-o", "json", home=tmp_path)
    assert first.returncode == 0 and '"changed": true' in first.stdout, first.stdout + first.stderr
    # the device's own paging command went first (netmiko's driver), then the fact and config commands
    paging = {
        "cisco_ios": "terminal length 0",
        "huawei": "screen-length 0 temporary",
        "hp_comware": "screen-length disable",
    }
    assert paging[device_type] in device.commands
    again = opsagent("config", "backup", "dev1", "-o", "json", home=tmp_path)
    assert '"changed": false' in again.stdout  # timestamps in the header are no change
    text = "\n".join(device.config).replace(old_line, new_line)
    text = text.replace("Vrp-Comm-1", "Rotated-9").replace("Cw-Comm-1", "Rotated-9")
    text = text.replace("2024-03-01 10:01:02", "2024-03-02 09:00:00")
    device.set_config(text)
    assert opsagent("config", "backup", "dev1", home=tmp_path).returncode == 0
    diff = opsagent("config", "diff", "dev1", home=tmp_path).stdout
    assert f"-{old_line}\n" in diff and f"+{new_line}\n" in diff, diff
    assert "Last configuration was updated" not in diff
    for secret in (*SECRETS, PASSWORD, ENABLE):
        assert secret not in diff
    show = opsagent("inventory", "show", "dev1", "-o", "json", home=tmp_path).stdout
    for fact in facts:
        assert fact in show, (fact, show[:2000])
