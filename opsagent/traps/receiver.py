"""SNMP notification receiver on pysnmp (its breadth matters here: v1/v2c/v3 USM, informs, MIBs).

Each trap or inform becomes a :class:`TrapEvent` handed to a callback; the trap OID and varbind
OIDs are resolved to names where the loaded MIBs allow (``linkDown``, ``ifIndex.3``), else kept
numeric. Communities and v3 keys come from credential references and never reach an event.

The UDP socket is bound before the receiver is returned (pysnmp's own ``open_server_mode(iface)``
binds on a later turn of the event loop: a trap sent in between met a closed port, and a busy port
was only a "Task exception was never retrieved"), with a receive buffer of :data:`RCVBUF` so that a
burst arriving while the event loop is busy waits in the kernel instead of being dropped.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.api import v2c
from pysnmp.smi import view

log = logging.getLogger(__name__)
RCVBUF = 8 << 20  # bytes asked for (the kernel caps SO_RCVBUF at net.core.rmem_max; root may exceed it)
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
# IF-MIB objects every switch sends in linkDown/linkUp (IF-MIB is not among pysnmp's compiled MIBs).
WELL_KNOWN = {
    "1.3.6.1.6.3.1.1.5.3": "linkDown",
    "1.3.6.1.6.3.1.1.5.4": "linkUp",
    "1.3.6.1.2.1.2.2.1.1": "ifIndex",
    "1.3.6.1.2.1.2.2.1.2": "ifDescr",
    "1.3.6.1.2.1.2.2.1.3": "ifType",
    "1.3.6.1.2.1.2.2.1.7": "ifAdminStatus",
    "1.3.6.1.2.1.2.2.1.8": "ifOperStatus",
    "1.3.6.1.2.1.31.1.1.1.1": "ifName",
    "1.3.6.1.2.1.31.1.1.1.18": "ifAlias",
}
_AUTH = {"MD5": config.USM_AUTH_HMAC96_MD5, "SHA": config.USM_AUTH_HMAC96_SHA}
_AUTH |= {"SHA256": config.USM_AUTH_HMAC192_SHA256, "SHA512": config.USM_AUTH_HMAC384_SHA512}
_PRIV = {"DES": config.USM_PRIV_CBC56_DES, "AES": config.USM_PRIV_CFB128_AES, "AES128": config.USM_PRIV_CFB128_AES}
_PRIV |= {"AES192": config.USM_PRIV_CFB192_AES, "AES256": config.USM_PRIV_CFB256_AES}


@dataclass
class TrapEvent:
    received_at: datetime
    source: str
    trap_oid: str
    trap_name: str
    varbinds: list[dict[str, str]] = field(default_factory=list)
    security: str = ""  # community index or v3 user name, never the secret
    kind: str = "snmp_trap"  # or snmp_inform


@dataclass
class V3User:
    name: str
    auth_protocol: str
    auth_password: str
    priv_protocol: str | None = None
    priv_password: str | None = None
    engine_id: str | None = None  # hex engine ID of the sender (traps); informs use ours


class TrapReceiver:
    def __init__(
        self,
        host: str,
        port: int,
        on_event: Callable[[TrapEvent], None],
        communities: list[str] | None = None,
        users: list[V3User] | None = None,
    ) -> None:
        self.on_event = on_event
        self.engine = engine.SnmpEngine()
        sock = bind_udp(host, port)
        self.port: int = sock.getsockname()[1]
        self.rcvbuf: int = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        v6 = sock.family == socket.AF_INET6
        self.transport = (udp6.Udp6Transport() if v6 else udp.UdpTransport()).open_server_mode(sock=sock)
        config.add_transport(self.engine, udp6.DOMAIN_NAME if v6 else udp.DOMAIN_NAME, self.transport)
        for i, community in enumerate(communities or []):
            config.add_v1_system(self.engine, f"area-{i}", community)
        for user in users or []:
            self._add_user(user)
        self.mib_view = view.MibViewController(self.engine.get_mib_builder())
        self.receiver = ntfrcv.NotificationReceiver(self.engine, self._callback)

    async def ready(self) -> None:
        """Until the event loop reads the (already bound) socket; datagrams before that are kept."""
        pending = getattr(self.transport, "_lport", None)
        if pending is not None:
            await asyncio.shield(pending)

    def _add_user(self, user: V3User) -> None:
        auth = _AUTH[user.auth_protocol.upper().replace("-", "")]
        priv = _PRIV[user.priv_protocol.upper().replace("-", "")] if user.priv_protocol else config.USM_PRIV_NONE
        kwargs: dict[str, Any] = {}
        if user.engine_id:
            kwargs["securityEngineId"] = v2c.OctetString(hexValue=user.engine_id.removeprefix("0x"))
        config.add_v3_user(self.engine, user.name, auth, user.auth_password, priv, user.priv_password, **kwargs)

    def name_of(self, oid: str) -> str:
        """``1.3.6.1.6.3.1.1.5.3`` → ``linkDown`` (with the instance suffix), else the OID itself."""
        if oid in WELL_KNOWN:
            return WELL_KNOWN[oid]
        base, _, last = oid.rpartition(".")
        if base in WELL_KNOWN:
            return f"{WELL_KNOWN[base]}.{last}"
        try:
            _, label, suffix = self.mib_view.get_node_name(v2c.ObjectIdentifier(oid))
        except Exception:
            return oid
        if not label or len(suffix) > 1:  # only a distant parent is known: the OID says more
            return oid
        name = str(label[-1])
        return name + ("." + ".".join(str(s) for s in suffix) if len(suffix) else "")

    def _callback(self, snmp_engine: Any, state: Any, engine_id: Any, context: Any, varbinds: Any, ctx: Any) -> None:
        context = snmp_engine.observer.get_execution_context("rfc3412.receiveMessage:request") or {}
        address = context.get("transportAddress")
        pdu = context.get("pdu")
        binds = [(str(oid), val) for oid, val in varbinds]
        trap_oid = next((str(v) for o, v in binds if o == SNMP_TRAP_OID), "")
        rest = [{"oid": o, "name": self.name_of(o), "value": v.prettyPrint()} for o, v in binds if o != SNMP_TRAP_OID]
        event = TrapEvent(
            received_at=datetime.now(UTC),
            source=str(address[0]) if address else "",
            kind="snmp_inform" if pdu is not None and "Inform" in type(pdu).__name__ else "snmp_trap",
            trap_oid=trap_oid,
            trap_name=self.name_of(trap_oid) if trap_oid else "",
            varbinds=rest,
            security=str(context.get("securityName", "")),
        )
        try:
            self.on_event(event)
        except Exception:  # a sink failure must not kill the receiver
            log.exception("trap event from %s not handled", event.source)

    def close(self) -> None:
        self.receiver.close(self.engine)
        self.engine.close_dispatcher()


def bind_udp(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound now (OSError at once for a busy port), with a large buffer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        _grow_receive_buffer(sock)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _grow_receive_buffer(sock: socket.socket) -> None:
    """SO_RCVBUFFORCE when privileged (beyond rmem_max), else SO_RCVBUF (capped at rmem_max)."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RCVBUF)
            return
        except OSError:
            continue
