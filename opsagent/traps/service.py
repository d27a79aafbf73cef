"""The trap receiver inside ``opsagent serve``: notifications → events in the store.

The sender's address names the asset (inventory ``address`` or ``vars.snmp_trap_sources``), so
``opsagent events --asset sw01`` lists a switch's traps. Store writes go through the App's single
writer thread, never blocking the receiver's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from opsagent.config import parse_listen
from opsagent.inventory.model import Inventory
from opsagent.traps.config import TrapsConfig, reveal
from opsagent.traps.receiver import TrapEvent, TrapReceiver, V3User

log = logging.getLogger(__name__)


def sources_of(inventory: Inventory) -> dict[str, str]:
    """Sender address → asset: explicit ``vars.snmp_trap_sources`` first, then asset addresses."""
    explicit: dict[str, str] = {}
    by_address: dict[str, str] = {}
    for asset in inventory.assets.values():
        extra = asset.vars.get("snmp_trap_sources") or []
        for address in extra if isinstance(extra, list) else [extra]:
            explicit.setdefault(str(address), asset.name)
        if asset.address:
            by_address.setdefault(asset.address, asset.name)
    return by_address | explicit


def _report(done: asyncio.Future[object]) -> None:
    if done.exception() is not None:
        log.error("trap event not stored: %s", done.exception())


def start_receiver(
    config: TrapsConfig, inventory: Inventory, record: Callable[[TrapEvent, str | None], object]
) -> TrapReceiver:
    """Bind the UDP port now (a busy port fails ``serve`` at start, like the HTTP listener)."""
    host, port = parse_listen(config.listen)
    sources = sources_of(inventory)
    loop = asyncio.get_running_loop()

    def on_event(event: TrapEvent) -> None:
        asset = sources.get(event.source)
        log.info("trap %s from %s (%s)", event.trap_name or event.trap_oid, event.source, asset or "unknown asset")
        loop.run_in_executor(None, record, event, asset).add_done_callback(_report)

    users = [
        V3User(
            u.name,
            u.auth_protocol,
            reveal(u.auth_password) or "",
            u.priv_protocol,
            reveal(u.priv_password),
            u.engine_id,
        )
        for u in config.users
    ]
    communities = [c for c in (reveal(ref) for ref in config.communities) if c]
    return TrapReceiver(host, port, on_event, communities=communities, users=users)
