"""A small SSH server (asyncssh) answering like a Cisco IOS CLI, for netmiko as the client under test.

It has what netmiko's ``cisco_ios`` driver and a backup use: password login, ``sw1>`` prompt,
``enable`` with a secret, ``terminal length 0``/``width``, ``show running-config`` (mutable from the
test), ``show version``, ``exit``; unknown commands get IOS's ``% Invalid input`` marker.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import pytest

from tests.peers.ports import LOCALHOST, free_port

USER, PASSWORD, ENABLE = "netops", "cli-Pass-4242", "en-Secret-77"


@dataclass
class IosDevice:
    port: int
    hostname: str = "sw1"
    config: str = ""
    logins: list[str] = field(default_factory=list)
    host: str = LOCALHOST


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


async def _session(device: IosDevice, process: Any) -> None:
    enabled = False
    write = process.stdout.write

    def prompt() -> str:
        return f"\r\n{device.hostname}{'#' if enabled else '>'}"

    write(prompt())
    try:
        while True:
            line = await process.stdin.readline()
            if not line:
                break
            cmd = line.strip()
            out = ""
            if cmd == "enable":
                write("Password: ")
                secret = (await process.stdin.readline()).strip()
                enabled = secret == ENABLE
                out = "" if enabled else "% Access denied"
            elif cmd.startswith("terminal ") or cmd == "":
                out = ""
            elif cmd in ("show running-config", "show run") and enabled:
                out = f"Building configuration...\n\nCurrent configuration : {len(device.config)} bytes\n"
                out += device.config
            elif cmd == "show version":
                out = "Cisco IOS Software, C3560 Software (C3560-IPBASEK9-M), Version 12.2(55)SE3\n"
                out += f"{device.hostname} uptime is 1 day"
            elif cmd in ("exit", "quit", "logout"):
                break
            else:
                out = "                ^\n% Invalid input detected at '^' marker."
            write(out.replace("\n", "\r\n") + prompt())
    except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, ConnectionError):
        pass
    process.exit(0)


@pytest.fixture(scope="session")
def ios_device() -> Iterator[IosDevice]:
    device = IosDevice(free_port())
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> asyncssh.SSHAcceptor:
        key = asyncssh.generate_private_key("ssh-ed25519")
        return await asyncssh.create_server(
            _Server,
            LOCALHOST,
            device.port,
            server_host_keys=[key],
            process_factory=lambda p: _session(device, p),
        )

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(serve())
        started.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())

    thread = threading.Thread(target=run, name="ios-emulator", daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield device
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
