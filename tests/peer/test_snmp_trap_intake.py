"""Trap intake never loses a notification the kernel accepted: the UDP port is bound before the
receiver is returned (a trap sent at once arrives; a busy port fails at once, as ``serve`` promises),
and a burst that arrives while the event loop is busy waits in a large socket buffer, not dropped."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from opsagent.traps.receiver import TrapEvent, TrapReceiver
from tests.peers.ports import LOCALHOST

pytestmark = pytest.mark.peer
COMMUNITY = "trap-intake-1"
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def trap_datagram(index: int) -> bytes:
    """A v2c linkDown trap for ifIndex ``index``, BER-encoded as a switch sends it."""
    pdu = V2C.SNMPv2TrapPDU()
    V2C.apiTrapPDU.set_defaults(pdu)
    binds = [
        ("1.3.6.1.2.1.1.3.0", V2C.TimeTicks(index)),
        ("1.3.6.1.6.3.1.1.4.1.0", V2C.ObjectIdentifier("1.3.6.1.6.3.1.1.5.3")),
        (f"1.3.6.1.2.1.2.2.1.1.{index}", V2C.Integer(index)),
    ]
    V2C.apiTrapPDU.set_varbinds(pdu, [(V2C.ObjectIdentifier(o), v) for o, v in binds])
    msg = V2C.Message()
    V2C.apiMessage.set_defaults(msg)
    V2C.apiMessage.set_community(msg, COMMUNITY)
    V2C.apiMessage.set_pdu(msg, pdu)
    data: bytes = encoder.encode(msg)
    return data


async def wait_for(got: list[TrapEvent], count: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def test_a_trap_sent_right_after_start_arrives() -> None:
    got: list[TrapEvent] = []
    receiver = TrapReceiver(LOCALHOST, 0, got.append, communities=[COMMUNITY])
    try:
        # No await between start and send: the port must already be bound (it was bound on the
        # loop's next turn, so a sender quicker than that — a loaded machine — hit a closed port).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(trap_datagram(1), (LOCALHOST, receiver.port))
        await wait_for(got, 1)
    finally:
        receiver.close()
    assert [e.trap_name for e in got] == ["linkDown"]


async def test_a_busy_port_fails_at_start() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((LOCALHOST, 0))
        with pytest.raises(OSError):
            TrapReceiver(LOCALHOST, taken.getsockname()[1], lambda e: None, communities=[COMMUNITY])


async def test_a_burst_while_the_loop_is_busy_is_not_dropped() -> None:
    got: list[TrapEvent] = []
    receiver = TrapReceiver(LOCALHOST, 0, got.append, communities=[COMMUNITY])
    # as many as the socket buffer holds (here 8 MiB as root; net.core.rmem_max caps it otherwise)
    count = min(1500, max(100, receiver.rcvbuf // 4096))
    try:
        await receiver.ready()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(1, count + 1):  # the loop is blocked here: nothing is read meanwhile
                sender.sendto(trap_datagram(i), (LOCALHOST, receiver.port))
        await wait_for(got, count, 120.0)
    finally:
        receiver.close()
    assert len(got) == count, f"{count - len(got)} of {count} traps dropped"
    assert sorted(int(e.varbinds[-1]["value"]) for e in got) == list(range(1, count + 1))
