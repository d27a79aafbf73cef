"""One small SSH server (asyncssh) answering like a network device CLI, for netmiko as the client
under test: Cisco IOS (``cisco_ios``), Huawei VRP (``huawei``) and H3C/HPE Comware (``hp_comware``).

Per vendor it has what netmiko's driver and a backup or runbook use:
  cisco_ios   ``sw1>``/``sw1#``, ``enable`` with a secret, ``terminal length 0``/``width``,
              ``show version|running-config|interfaces|logging``, ``configure terminal`` →
              ``(config)#``/``(config-if)#`` (really changes the running config), ``write memory``
  huawei      ``<HUAWEI>``, ``screen-length 0 temporary``, ``display version|current-configuration``,
              ``system-view`` → ``[HUAWEI]``, ``return``/``quit``, ``save``
  hp_comware  ``<H3C>``, ``screen-length disable``, ``display version|current-configuration``,
              ``system-view`` → ``[H3C]``, ``return``/``quit``, ``save force``
``display version``/``show version`` print real devices' outputs (tests/fixtures/netcli, from
ntc-templates); unknown commands get each vendor's own error marker.

Fixtures (one server per vendor for the session, state reset for every test):
    ios_device, rb_ios_device, huawei_device, comware_device -> NetDevice
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.peers.ports import LOCALHOST, free_port

USER, PASSWORD, ENABLE = "netops", "cli-Pass-4242", "en-Secret-77"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "netcli"


def _fixture_output(name: str) -> str:
    return str(json.loads((FIXTURES / name).read_text())["output"])


IOS_VERSION = """Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version 15.2(4)E10, RELEASE SOFTWARE (fc2)
Technical Support: http://www.cisco.com/techsupport
ROM: Bootstrap program is C3750E boot loader
sw1 uptime is 3 weeks, 2 days, 4 hours, 12 minutes
System image file is "flash:/c3750e-universalk9-mz.152-4.E10.bin"
cisco WS-C3750X-48P (PowerPC405) processor (revision W0) with 262144K bytes of memory.
Processor board ID FDO1234X5YZ
Configuration register is 0xF"""
IOS_INTERFACE = """GigabitEthernet1/0/1 is up, line protocol is up (connected)
  Hardware is Gigabit Ethernet, address is 00aa.bbcc.0101 (bia 00aa.bbcc.0101)
  Description: uplink
  MTU 1500 bytes, BW 1000000 Kbit/sec, DLY 10 usec,
  Full-duplex, 1000Mb/s, media type is 10/100/1000BaseTX
  Last input 00:00:00, output 00:00:01, output hang never
  5 minute input rate 2000 bits/sec, 3 packets/sec
     120345 packets input, 9876543 bytes, 0 no buffer
     12 input errors, 3 CRC, 0 frame, 0 overrun, 0 ignored
     130456 packets output, 10987654 bytes, 0 underruns
     0 output errors, 0 collisions, 2 interface resets"""
IOS_CONFIG = """version 15.2
hostname sw1
!
interface GigabitEthernet1/0/1
 description uplink
!
interface GigabitEthernet1/0/2
 description access"""
# `display current-configuration` as VRP V200 (S5720) and Comware 7 print it, secrets in their forms.
VRP_CONFIG = """!Software Version V200R011C10SPC500
!Last configuration was updated at 2024-03-01 10:01:02+08:00 by admin
#
 sysname HUAWEI
#
 vlan batch 10 20 100
#
 stp mode rstp
#
aaa
 local-user admin password irreversible-cipher $1c$]Ka_Lq3Dq;$u9fN%>u2VJ}x+T0=|o8(Gm5$
 local-user admin privilege level 15
 local-user admin service-type ssh
#
interface Vlanif100
 ip address 10.10.100.2 255.255.255.0
#
interface GigabitEthernet0/0/1
 description uplink-to-core
 port link-type trunk
 port trunk allow-pass vlan 10 20 100
#
interface GigabitEthernet0/0/2
 port link-type access
 port default vlan 10
#
snmp-agent
snmp-agent community read cipher %^%#Vrp-Comm-1%^%#
snmp-agent sys-info version v2c v3
#
ospf 1 router-id 10.10.100.2
 area 0.0.0.0
  authentication-mode md5 1 cipher %^%#Ospf-Key-1%^%#
  network 10.10.100.0 0.0.0.255
#
user-interface vty 0 4
 authentication-mode aaa
 protocol inbound ssh
#
return"""
COMWARE_CONFIG = """#
 version 7.1.070, Release 6710P01
#
 sysname H3C
#
 irf mac-address persistent timer
#
vlan 1
#
vlan 10
 name servers
#
interface Ten-GigabitEthernet1/0/1
 description uplink-to-core
 port link-type trunk
 port trunk permit vlan 1 10
#
interface Ten-GigabitEthernet1/0/2
 port access vlan 10
#
 snmp-agent
 snmp-agent community read simple Cw-Comm-1
 snmp-agent sys-info version v2c v3
#
local-user admin class manage
 password hash $h$6$Cw7HashValue$Zm9vYmFy==
 service-type ssh
 authorization-attribute user-role network-admin
#
radius scheme rad1
 primary authentication 10.0.0.5
 key authentication cipher $c$3$Rad-Key-1
#
line vty 0 63
 authentication-mode scheme
#
return"""

VENDORS: dict[str, dict[str, Any]] = {
    "cisco_ios": {"hostname": "sw1", "config": IOS_CONFIG, "version": IOS_VERSION},
    "huawei": {
        "hostname": "HUAWEI",
        "config": VRP_CONFIG,
        "version": _fixture_output("huawei/ne40e_x2_m8a.json"),
        "paging": "screen-length 0 temporary",
        "paging_reply": "Info: The configuration takes effect on the current user terminal interface only.",
        "error": "              ^\nError: Unrecognized command found at '^' position.",
        "save": "save",
    },
    "hp_comware": {
        "hostname": "H3C",
        "config": COMWARE_CONFIG,
        "version": _fixture_output("hp_comware/hpe_ff5945_cw7.json"),
        "paging": "screen-length disable",
        "paging_reply": "",
        "error": "              ^\n % Unrecognized command found at '^' position.",
        "save": "save force",
    },
}


@dataclass
class NetDevice:
    port: int
    vendor: str = "cisco_ios"
    user: str = USER
    password: str = PASSWORD
    secret: str = ENABLE
    hostname: str = "sw1"
    host: str = LOCALHOST
    config: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # every line received, for assertions
    saved: list[str] = field(default_factory=list)
    version: str = ""
    loop: asyncio.AbstractEventLoop | None = None
    server: Any = None

    def reset(self) -> None:
        spec = VENDORS[self.vendor]
        self.hostname, self.version = spec["hostname"], spec["version"]
        self.config = spec["config"].split("\n")
        self.commands, self.saved = [], []

    def set_config(self, text: str) -> None:
        self.config = text.strip("\n").split("\n")

    def running_config(self) -> str:
        body = "\n".join(self.config)
        if self.vendor != "cisco_ios":
            return body
        if self.config and self.config[-1].strip() == "end":  # a whole config given by the test
            return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n{body}"
        return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n!\n{body}\n!\nend"


# Backwards-compatible name: the IOS emulator's device type.
IosDevice = NetDevice


class _Session:
    def __init__(self, device: NetDevice, process: asyncssh.SSHServerProcess[str]) -> None:
        self.device = device
        self.process = process
        self.mode = "user"
        self.current = ""

    def prompt(self) -> str:
        name = self.device.hostname
        if self.device.vendor != "cisco_ios":
            return f"[{name}]" if self.mode == "config" else f"<{name}>"
        suffix = {"user": ">", "enable": "#", "config": "(config)#", "config-if": "(config-if)#"}[self.mode]
        return name + suffix

    def write(self, text: str) -> None:
        self.process.stdout.write(text.replace("\n", "\r\n"))

    async def run(self) -> None:
        self.write(f"\n{self.prompt()}")
        try:
            while True:
                try:
                    line = await self.process.stdin.readline()
                except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
                    continue
                if not line:
                    break
                command = line.strip()
                self.device.commands.append(command)
                if command in ("exit", "quit", "logout") and self.mode in ("user", "enable"):
                    break
                if self.device.vendor == "cisco_ios":
                    output = await self.ios(command)
                else:
                    output = self.vrp(command)
                self.write(f"{output}\n{self.prompt()}" if output else f"\n{self.prompt()}")
        except ConnectionError:
            pass
        self.process.exit(0)

    def vrp(self, command: str) -> str:
        """Huawei VRP and Comware share the view model: <user view>, [system view], `return`."""
        spec = VENDORS[self.device.vendor]
        if not command:
            return ""
        if command == spec["paging"]:
            return str(spec["paging_reply"])
        if command.startswith("dis") and " ver" in f" {command.split(maxsplit=1)[-1]}":
            return self.device.version
        if command.startswith("dis") and command.split()[-1].startswith("current"):
            return self.device.running_config()
        if command == "system-view":
            self.mode = "config"
            return "Enter system view, return user view with return command." if self.device.vendor == "huawei" else (
                "System View: return to User View with Ctrl+Z."
            )  # fmt: skip
        if command in ("return", "quit") and self.mode == "config":
            self.mode = "user"
            return ""
        if command == spec["save"]:
            self.device.saved = list(self.device.config)
            return "Info: Save the configuration successfully." if self.device.vendor == "huawei" else (
                "Configuration is saved to device successfully."
            )  # fmt: skip
        if self.mode == "config":
            self.device.config.insert(len(self.device.config) - 1, " " + command)
            return ""
        return str(spec["error"])

    async def ios(self, command: str) -> str:  # noqa: C901 - one branch per emulated command
        words = command.split()
        if not words:
            return ""
        if self.mode in ("config", "config-if"):
            return self.configure(command)
        if command == "enable":
            self.write("Password: ")
            secret = (await self.process.stdin.readline()).strip()
            if secret != self.device.secret:
                return "% Access denied"
            self.mode = "enable"
            return ""
        if words[0] == "terminal" or command in ("disable",):
            return ""
        if command.startswith("show ver"):
            return self.device.version
        if command.startswith("show run"):
            return self.device.running_config() if self.mode == "enable" else "% Invalid input detected at '^' marker."
        if command.startswith("show int"):
            return IOS_INTERFACE
        if command.startswith("show logging"):
            return "*Mar  1 00:01:02: %LINK-3-UPDOWN: Interface GigabitEthernet1/0/1, changed state to up"
        if command in ("configure terminal", "conf t") and self.mode == "enable":
            self.mode = "config"
            return "Enter configuration commands, one per line.  End with CNTL/Z."
        if command in ("write memory", "write mem", "copy running-config startup-config"):
            self.device.saved = list(self.device.config)
            return "Building configuration...\n[OK]"
        return "                ^\n% Invalid input detected at '^' marker."

    def configure(self, command: str) -> str:
        if command == "end":
            self.mode = "enable"
            return ""
        if command == "exit":
            self.mode = "config" if self.mode == "config-if" else "enable"
            return ""
        if command.startswith("interface "):
            self.mode = "config-if"
            if command not in self.device.config:
                self.device.config += ["!", command]
            self.current = command
            return ""
        if self.mode == "config-if":
            index = self.device.config.index(self.current) + 1
            self.device.config.insert(index, " " + command)
        else:
            self.device.config.append(command)
        return ""


class _Server(asyncssh.SSHServer):
    def __init__(self, device: NetDevice) -> None:
        self.device = device

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.device.user and password == self.device.password


def start_device(vendor: str, port: int | None = None) -> tuple[NetDevice, threading.Thread]:
    """A device emulator with a new host key, on ``port`` (default: a free one)."""
    device = NetDevice(port or free_port(), vendor)
    device.reset()
    ready = threading.Event()
    key = asyncssh.generate_private_key("ssh-ed25519")

    async def serve() -> None:
        async def handle(process: asyncssh.SSHServerProcess[str]) -> None:
            await _Session(device, process).run()

        device.server = await asyncssh.create_server(
            lambda: _Server(device), LOCALHOST, device.port, server_host_keys=[key], process_factory=handle,
            line_editor=True,
        )  # fmt: skip
        ready.set()
        await device.server.wait_closed()

    def run() -> None:
        loop = asyncio.new_event_loop()
        device.loop = loop
        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"netdevice-{vendor}", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError(f"the {vendor} device emulator did not start")
    return device, thread


def stop_device(device: NetDevice, thread: threading.Thread) -> None:
    if device.loop is not None and device.server is not None:
        device.loop.call_soon_threadsafe(device.server.close)
    thread.join(10)


@pytest.fixture(scope="session")
def net_devices() -> Iterator[dict[str, NetDevice]]:
    started = {vendor: start_device(vendor) for vendor in VENDORS}
    try:
        yield {vendor: device for vendor, (device, _t) in started.items()}
    finally:
        for device, thread in started.values():
            if device.loop is not None and device.server is not None:
                device.loop.call_soon_threadsafe(device.server.close)
            thread.join(10)


def _fresh(devices: dict[str, NetDevice], vendor: str) -> NetDevice:
    device = devices[vendor]
    device.reset()
    return device


@pytest.fixture
def ios_device(net_devices: dict[str, NetDevice]) -> NetDevice:
    return _fresh(net_devices, "cisco_ios")


@pytest.fixture
def rb_ios_device(net_devices: dict[str, NetDevice]) -> NetDevice:
    return _fresh(net_devices, "cisco_ios")


@pytest.fixture
def huawei_device(net_devices: dict[str, NetDevice]) -> NetDevice:
    return _fresh(net_devices, "huawei")


@pytest.fixture
def comware_device(net_devices: dict[str, NetDevice]) -> NetDevice:
    return _fresh(net_devices, "hp_comware")
