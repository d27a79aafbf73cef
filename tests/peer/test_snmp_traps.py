"""The trap receiver against net-snmp's snmptrap/snmpinform: v2c trap, v2c inform, v3 authPriv trap."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import pytest

from opsagent.traps.receiver import TrapEvent, TrapReceiver, V3User

pytestmark = pytest.mark.peer
ENGINE = "0x8000000001020304"


async def _run(*argv: str) -> int:
    if shutil.which(argv[0]) is None:
        raise RuntimeError(f"{argv[0]} missing: install Debian `snmp` (bash scripts/test.sh does it)")
    proc = await asyncio.create_subprocess_exec(*argv, env={**os.environ, "MIBS": ""})
    return await asyncio.wait_for(proc.wait(), 30)


async def test_traps_and_informs_arrive_as_events() -> None:
    got: list[TrapEvent] = []
    user = V3User("trapper", "SHA", "auth-Trap-123", "AES", "priv-Trap-456", engine_id=ENGINE)
    # port 0: the kernel picks a free port, bound before the receiver is returned (no race for it)
    receiver = TrapReceiver("127.0.0.1", 0, got.append, communities=["trap-comm-1"], users=[user])
    target = f"127.0.0.1:{receiver.port}"
    try:
        assert await _run("snmptrap", "-v2c", "-c", "trap-comm-1", target, "", "1.3.6.1.6.3.1.1.5.3",
                          "1.3.6.1.2.1.2.2.1.1.3", "i", "3") == 0  # fmt: skip
        v3 = ["-v3", "-e", ENGINE, "-u", "trapper", "-l", "authPriv", "-a", "SHA", "-A", "auth-Trap-123"]
        assert await _run("snmptrap", *v3, "-x", "AES", "-X", "priv-Trap-456", target, "", "1.3.6.1.6.3.1.1.5.1") == 0
        # an inform is acknowledged: snmpinform exits 0 only when the receiver answered
        assert await _run("snmpinform", "-v2c", "-c", "trap-comm-1", "-t", "5", target, "", "1.3.6.1.6.3.1.1.5.4") == 0
        assert await _run("snmptrap", "-v2c", "-c", "wrong-comm", target, "", "1.3.6.1.6.3.1.1.5.2") == 0
        deadline = time.monotonic() + 60  # a loaded machine may take long; an idle one returns at once
        while len(got) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the wrong-community trap had its chance to (wrongly) arrive
    finally:
        receiver.close()
    oids = [e.trap_oid for e in got]
    assert oids == ["1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.1", "1.3.6.1.6.3.1.1.5.4"]  # wrong community dropped
    assert got[1].trap_name == "coldStart" and got[1].security == "trapper"
    assert [e.kind for e in got] == ["snmp_trap", "snmp_trap", "snmp_inform"]
    assert {e.source for e in got} == {"127.0.0.1"}
    assert got[0].varbinds[0]["name"] == "sysUpTime.0"
    assert got[0].trap_name == "linkDown"
    assert {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "ifIndex.3", "value": "3"} in got[0].varbinds
    assert got[2].trap_name == "linkUp"
    assert all("trap-comm-1" not in repr(e) and "auth-Trap" not in repr(e) for e in got)
