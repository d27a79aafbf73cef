"""snmp steps against a real net-snmp agent; cli steps (netmiko cisco_ios) against an IOS-like
SSH device: show commands, a config set that changes the device, enable secret never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.peer.rbhelpers import Home, import_inventory, make_home
from tests.peers.netdevice import IosDevice
from tests.peers.ports import LOCALHOST, free_port
from tests.peers.snmp import RbSnmpd

pytestmark = pytest.mark.peer

SNMP_BOOK = """\
name: snmp-facts
kind: inspection
targets: kind=network
steps:
  - name: system
    snmp: {oids: ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.99.0"]}
    register: sys
    value: "{{ sys.data['1.3.6.1.2.1.1.5.0'] }}"
    check:
      - fail: "sys.data['1.3.6.1.2.1.1.5.0'] != 'opsagent-rb-switch'"
        message: "unexpected sysName"
      - warn: "sys.data['1.3.6.1.2.1.1.3.0'] | int < 100"
        message: "just booted"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    return make_home(tmp_path, monkeypatch)


def _secret(home: Home, monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    home.env[name] = value
    return f"env:{name}"


def test_snmp_get_step(runbook_snmpd: RbSnmpd, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _secret(home, monkeypatch, "OPSAGENT_T_RB_COMMUNITY", runbook_snmpd.community)
    wrong = _secret(home, monkeypatch, "OPSAGENT_T_RB_WRONG", "not-the-community")
    _, apw, _, ppw = runbook_snmpd.users["ops_sha256_aes256"]
    v3_auth = _secret(home, monkeypatch, "OPSAGENT_T_RB_V3A", apw)
    v3_priv = _secret(home, monkeypatch, "OPSAGENT_T_RB_V3P", ppw or "")
    items = [
        f"  - name: sw1\n    kind: network\n    address: {LOCALHOST}\n    port: {runbook_snmpd.port}\n"
        f"    credentials: {{snmp: {{community: '{ref}'}}}}\n",
        f"  - name: sw-wrong\n    kind: network\n    address: {LOCALHOST}\n    port: {runbook_snmpd.port}\n"
        f"    credentials: {{snmp: {{community: '{wrong}'}}}}\n",
        f"  - name: sw-none\n    kind: network\n    address: {LOCALHOST}\n    port: {free_port()}\n",
        # v1: a missing OID fails the whole GET (noSuchName); the others still get their values
        f"  - name: sw-v1\n    kind: network\n    address: {LOCALHOST}\n    port: {runbook_snmpd.port}\n"
        f"    credentials: {{snmp: {{community: '{ref}'}}}}\n"
        "    collectors: [{name: snmp, options: {version: '1'}}]\n",
        # v3 with the collector's credential names and protocols; the collector options set the version
        f"  - name: sw-v3\n    kind: network\n    address: {LOCALHOST}\n    port: {runbook_snmpd.port}\n"
        f"    credentials: {{snmp: {{user: ops_sha256_aes256, auth_protocol: SHA-256, auth_password: '{v3_auth}',"
        f" priv_protocol: AES-256, priv_password: '{v3_priv}'}}}}\n"
        "    collectors: [{name: snmp, options: {version: '3', timeout: 2s}}]\n",
    ]
    import_inventory(home, items)
    home.runbook("snmp-facts.yaml", SNMP_BOOK)
    result = home.cli("runbook", "run", "snmp-facts")
    assert result.exit_code == 1, result.output
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    by_asset = {s["asset"]: s for s in detail["steps"]}
    ok = by_asset["sw1"]
    assert ok["status"] == "ok" and "1.3.6.1.2.1.1.5.0 = opsagent-rb-switch" in ok["stdout"]
    assert "1.3.6.1.2.1.1.99.0 = None" in ok["stdout"]  # noSuchObject is a value, not a failure
    assert ok["checks"][0]["status"] in ("pass", "warn") and ok["checks"][0]["value"] == "opsagent-rb-switch"
    assert by_asset["sw-wrong"]["status"] == "timeout"  # a wrong community gets no answer at all
    assert by_asset["sw-none"]["status"] == "failed" and "community" in by_asset["sw-none"]["message"]
    v1 = by_asset["sw-v1"]
    assert v1["status"] == "ok" and "1.3.6.1.2.1.1.5.0 = opsagent-rb-switch" in v1["stdout"], (
        v1["status"],
        v1["message"],
        v1["stdout"],
    )
    assert "1.3.6.1.2.1.1.99.0 = None" in v1["stdout"]
    v3 = by_asset["sw-v3"]
    assert v3["status"] == "ok" and "1.3.6.1.2.1.1.5.0 = opsagent-rb-switch" in v3["stdout"], v3
    assert runbook_snmpd.community not in json.dumps(detail)
    assert apw not in json.dumps(detail) and (ppw or "") not in json.dumps(detail)


def test_snmp_step_names_a_non_numeric_oid(runbook_snmpd: RbSnmpd, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _secret(home, monkeypatch, "OPSAGENT_T_RB_COMMUNITY", runbook_snmpd.community)
    item = (
        f"  - name: sw1\n    kind: network\n    address: {LOCALHOST}\n    port: {runbook_snmpd.port}\n"
        f"    credentials: {{snmp: {{community: '{ref}'}}}}\n"
    )
    import_inventory(home, [item])
    book = SNMP_BOOK.replace('"1.3.6.1.2.1.1.3.0"', '"SNMPv2-MIB::sysUpTime.0"')
    home.runbook("snmp-facts.yaml", book)
    assert home.cli("runbook", "run", "snmp-facts").exit_code == 1
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    step = detail["steps"][0]
    assert step["status"] == "failed" and "SNMPv2-MIB::sysUpTime.0" in step["message"], step


CLI_BOOK = """\
name: port-description
kind: task
targets: kind=network
parameters:
  interface: {type: str, default: GigabitEthernet1/0/2}
  text: {type: str}
steps:
  - name: version
    cli: {commands: ["show version"]}
    register: ver
    check:
      - fail: "'Cisco IOS' not in ver.stdout"
        message: "not IOS"
  - name: set description
    cli: {config: ["interface {{ interface }}", "description {{ text }}"], save: true}
  - name: verify
    cli: {commands: ["show running-config"]}
    register: running
    check:
      - fail: "('description ' ~ text) not in running.stdout"
        message: "description not applied"
"""


def test_cli_steps_with_netmiko(rb_ios_device: IosDevice, home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = _secret(home, monkeypatch, "OPSAGENT_T_RB_CLI_PW", rb_ios_device.password)
    secret = _secret(home, monkeypatch, "OPSAGENT_T_RB_CLI_EN", rb_ios_device.secret)
    creds = f"{{cli: {{user: {rb_ios_device.user}, password: '{pw}', enable_password: '{secret}'}}}}"
    item = f"  - name: sw1\n    kind: network\n    address: {LOCALHOST}\n    port: {rb_ios_device.port}\n"
    item += f"    credentials: {creds}\n"
    import_inventory(home, [item])
    home.runbook("port-description.yaml", CLI_BOOK)
    # an unknown host key is refused, as by the collector and config backup (netmiko alone accepts any)
    refused = home.cli("runbook", "run", "port-description", "-e", "text=to printer 3F")
    assert refused.exit_code == 1 and "hostkey_unknown" in refused.output, refused.output
    assert " description to printer 3F" not in rb_ios_device.config
    import_inventory(home, [item + "    vars: {accept_unknown_host_key: true}\n"])  # accept-new: pinned now
    result = home.cli("runbook", "run", "port-description", "-e", "text=to printer 3F")
    assert result.exit_code == 0, result.output
    assert " description to printer 3F" in rb_ios_device.config
    assert rb_ios_device.saved == rb_ios_device.config  # save: true wrote it to startup
    detail = home.json("runbook", "show", str(home.json("runbook", "runs")[0]["id"]))
    steps = {s["path"]: s for s in detail["steps"]}
    assert steps["verify"]["checks"][0]["status"] == "pass"
    assert "(config) description to printer 3F" in steps["set description"]["command"]
    # a value cannot smuggle a second command onto the device
    bad = home.cli("runbook", "run", "port-description", "-e", "text=x\nno interface GigabitEthernet1/0/1")
    assert bad.exit_code == 1
    assert "interface GigabitEthernet1/0/1" in rb_ios_device.config and not any(
        c.startswith("no interface") for c in rb_ios_device.commands
    )
    text = json.dumps(detail)
    assert rb_ios_device.password not in text and rb_ios_device.secret not in text
