"""A small SSH server (asyncssh) that behaves like a Cisco IOS CLI, for netmiko ``cisco_ios``:
login, ``enable`` with a secret, ``terminal length/width``, ``show version``, ``show interfaces``,
``show running-config``, configuration mode (``configure terminal``, ``interface``, ``exit``,
``end``) that really changes the running configuration, and ``write memory``.

Fixture:
    ios_device (session) -> IosDevice: port, user, password, secret, host key file, running config

Runs in a thread with its own event loop, on 127.0.0.1 and a free port; stopped with the session.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import pytest

from tests.peers.ports import LOCALHOST, free_port

HOSTNAME = "rb-sw1"
VERSION = """Cisco IOS Software, C3750E Software (C3750E-UNIVERSALK9-M), Version 15.2(4)E10, RELEASE SOFTWARE (fc2)
Technical Support: http://www.cisco.com/techsupport
ROM: Bootstrap program is C3750E boot loader
rb-sw1 uptime is 3 weeks, 2 days, 4 hours, 12 minutes
System image file is "flash:/c3750e-universalk9-mz.152-4.E10.bin"
cisco WS-C3750X-48P (PowerPC405) processor (revision W0) with 262144K bytes of memory.
Processor board ID FDO1234X5YZ
Configuration register is 0xF"""
INTERFACE = """GigabitEthernet1/0/1 is up, line protocol is up (connected)
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


@dataclass
class IosDevice:
    port: int
    user: str
    password: str
    secret: str
    host: str = LOCALHOST
    config: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # every line received, for assertions
    saved: list[str] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    server: Any = None

    def running_config(self) -> str:
        body = "\n".join(self.config)
        return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n!\n{body}\n!\nend"


def initial_config() -> list[str]:
    return [
        "version 15.2",
        f"hostname {HOSTNAME}",
        "!",
        "interface GigabitEthernet1/0/1",
        " description uplink",
        "!",
        "interface GigabitEthernet1/0/2",
        " description access",
    ]


class _Session:
    def __init__(self, device: IosDevice, process: asyncssh.SSHServerProcess[str]) -> None:
        self.device = device
        self.process = process
        self.mode = "user"

    def prompt(self) -> str:
        suffix = {"user": ">", "enable": "#", "config": "(config)#", "config-if": "(config-if)#"}[self.mode]
        return HOSTNAME + suffix

    def write(self, text: str) -> None:
        self.process.stdout.write(text.replace("\n", "\r\n"))

    async def run(self) -> None:
        self.write(f"\n{self.prompt()}")
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
            output = await self.handle(command)
            self.write(f"{output}\n{self.prompt()}" if output else f"\n{self.prompt()}")
        self.process.exit(0)

    async def handle(self, command: str) -> str:  # noqa: C901 - one branch per emulated command
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
            return VERSION
        if command.startswith("show run"):
            return self.device.running_config() if self.mode == "enable" else "% Invalid input detected at '^' marker."
        if command.startswith("show int"):
            return INTERFACE
        if command.startswith("show logging"):
            return "*Mar  1 00:01:02: %LINK-3-UPDOWN: Interface GigabitEthernet1/0/1, changed state to up"
        if command in ("configure terminal", "conf t") and self.mode == "enable":
            self.mode = "config"
            return "Enter configuration commands, one per line.  End with CNTL/Z."
        if command in ("write memory", "write mem", "copy running-config startup-config"):
            self.device.saved = list(self.device.config)
            return "Building configuration...\n[OK]"
        return "% Invalid input detected at '^' marker."

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
    def __init__(self, device: IosDevice) -> None:
        self.device = device

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.device.user and password == self.device.password


def start_ios_device() -> tuple[IosDevice, threading.Thread]:
    device = IosDevice(
        free_port(), "netops", secrets.token_urlsafe(10), secrets.token_urlsafe(8), config=initial_config()
    )
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

    thread = threading.Thread(target=run, name="ios-device", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the IOS device emulator did not start")
    return device, thread


@pytest.fixture(scope="session")
def rb_ios_device() -> Iterator[IosDevice]:
    device, thread = start_ios_device()
    try:
        yield device
    finally:
        if device.loop is not None and device.server is not None:
            device.loop.call_soon_threadsafe(device.server.close)
        thread.join(10)
