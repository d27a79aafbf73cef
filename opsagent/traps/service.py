"""The trap receiver inside ``opsagent serve``: notifications → events → (trap rules) → incidents.

The sender's address names the asset (inventory ``address`` or ``vars.snmp_trap_sources``), so
``opsagent events --asset sw01`` lists a switch's traps. Store writes and rule matching run in the
router's worker (:mod:`opsagent.traps.route`), never blocking the receiver's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import Metric

from opsagent.alerts.engine import AlertEngine
from opsagent.app import App
from opsagent.config import parse_listen
from opsagent.inventory.model import Inventory
from opsagent.traps.config import TrapsConfig, reveal
from opsagent.traps.receiver import TrapEvent, TrapReceiver, V3User
from opsagent.traps.route import TrapRouter
from opsagent.traps.rules import TrapRule

log = logging.getLogger(__name__)
INVENTORY_REFRESH_SECONDS = 30.0


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


def start_receiver(config: TrapsConfig, on_event: Callable[[TrapEvent], None]) -> TrapReceiver:
    """Bind the UDP port now (a busy port fails ``serve`` at start, like the HTTP listener)."""
    host, port = parse_listen(config.listen)
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


class TrapService:
    """Receiver + router for ``serve``: traps → events → trap rules → the alert engine's incidents."""

    def __init__(self, app: App, engine: AlertEngine, inventory: Inventory, rules: list[TrapRule]) -> None:
        assert app.config.traps is not None
        self.app = app
        self.sources: dict[str, str] = sources_of(inventory)
        self.router = TrapRouter(app.store, rules, lambda: self.sources, engine.receive_alerts, lambda: engine.external)
        self.receiver = start_receiver(app.config.traps, self.router.submit)
        self.task: asyncio.Task[None] | None = None
        self.watch: asyncio.Task[None] | None = None

    def start(self, stop: asyncio.Event) -> None:
        self.task = asyncio.create_task(self.router.run(stop))
        self.watch = asyncio.create_task(self._refresh(stop))

    async def _refresh(self, stop: asyncio.Event) -> None:
        """New assets and changed addresses name trap senders without a restart (as polls do)."""
        while not stop.is_set():
            await asyncio.wait({asyncio.create_task(stop.wait())}, timeout=INVENTORY_REFRESH_SECONDS)
            try:
                self.sources = sources_of(await asyncio.to_thread(self.app.inventory))
            except Exception:
                log.exception("trap sources not refreshed; keeping the previous ones")

    def collect(self) -> Iterator[Metric]:
        return self.router.collect()

    async def close(self) -> None:
        self.receiver.close()
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=10)
            self.task.cancel()
        if self.watch is not None:
            self.watch.cancel()
