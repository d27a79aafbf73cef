"""A real net-snmp agent for runbook tests, on 127.0.0.1 and a free UDP port.

Fixture:
    runbook_snmpd (session) -> RbSnmpd: port, community (read-only), sys_name

The community is random per session; MIBS="" and `-I -smux,...` as REAL-PEERS.md describes.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.ports import LOCALHOST, free_port
from tests.peers.process import Daemon

SNMPD = Path("/usr/sbin/snmpd")
INSTALL_HINT = "install the Debian package `snmpd` (bash scripts/test.sh does it)"


@dataclass(frozen=True)
class RbSnmpd:
    daemon: Daemon
    base_dir: Path
    port: int
    community: str
    sys_name: str = "opsagent-rb-switch"


def _answers(port: int, community: str) -> bool:
    # a UDP port is "open" once snmpd answers a get; snmpget may be missing, so poke with pysnmp
    import asyncio

    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    async def probe() -> bool:
        engine = SnmpEngine()
        target = await UdpTransportTarget.create((LOCALHOST, port), timeout=0.5, retries=0)
        error, _s, _i, _b = await get_cmd(
            engine, CommunityData(community), target, ContextData(), ObjectType(ObjectIdentity("1.3.6.1.2.1.1.5.0"))
        )
        engine.close_dispatcher()
        return error is None

    return asyncio.run(probe())


@pytest.fixture(scope="session")
def runbook_snmpd() -> Iterator[RbSnmpd]:
    if not SNMPD.exists():
        pytest.fail(f"{SNMPD} not found: {INSTALL_HINT}", pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="opsagent-rb-snmpd-"))
    port = free_port()
    community = "rb" + secrets.token_hex(6)
    conf = base / "snmpd.conf"
    conf.write_text(
        f"agentAddress udp:{LOCALHOST}:{port}\nrocommunity {community} {LOCALHOST}\n"
        f"sysName opsagent-rb-switch\nsysLocation test rack\nsysContact ops@example.com\n"
    )
    daemon = Daemon(
        "snmpd",
        [str(SNMPD), "-f", "-C", "-c", str(conf), "-I", "-smux,mteTrigger,mteTriggerConf",
         "-Lf", str(base / "snmpd.log"), "-p", str(base / "snmpd.pid")],
        base / "snmpd.out",
        cwd=base,
        env={"MIBS": "", "PATH": "/usr/sbin:/usr/bin:/bin"},
    )  # fmt: skip
    try:
        daemon.wait_ready(lambda: _answers(port, community), timeout=30)
        yield RbSnmpd(daemon, base, port, community)
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
