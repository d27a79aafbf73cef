"""JSON API of the desk: ``POST /api/v1/tickets`` logs a call as a ticket (bearer token; the actor is
the token's identity). The body is a :class:`~opsagent.desk.intake.TicketRequest`, validated and
bounded: a bad one is a 400 naming the field. Work on the ticket through the incident routes."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from opsagent.app import App
from opsagent.auth import http as auth
from opsagent.desk.content import DeskContent, load_desk
from opsagent.desk.intake import AssetResolver, IntakeError, TicketRequest, inventory_resolver, open_ticket
from opsagent.errors import SelectorError
from opsagent.httpd.body import error, read_model
from opsagent.httpd.threads import in_thread
from opsagent.sla.policy import ServiceLevelPolicy

INVENTORY_TTL = 30.0  # seconds a loaded inventory resolves selectors before it is read again


class Desk:
    """What the routes share: the app, the policy and desk content in effect, an inventory cache."""

    def __init__(self, app: App, policy: ServiceLevelPolicy, content: DeskContent) -> None:
        self.app, self.policy, self.content = app, policy, content
        self._resolver: tuple[float, AssetResolver] | None = None

    def resolver(self) -> AssetResolver:
        cached = self._resolver
        if cached is None or time.monotonic() - cached[0] > INVENTORY_TTL:
            cached = self._resolver = (time.monotonic(), inventory_resolver(self.app.inventory()))
        return cached[1]

    def open(self, req: TicketRequest, actor: str) -> dict[str, Any]:
        resolver = self.resolver() if req.assets else None
        return open_ticket(self.app.store, self.policy, self.content, req, actor, resolver).as_dict()


DESK_KEY = web.AppKey("desk", Desk)


async def create_ticket(request: web.Request) -> web.Response:
    who = auth.require_write(request)
    body = await read_model(request, TicketRequest, empty_ok=False)
    desk = request.app[DESK_KEY]
    try:
        opened = await in_thread(desk.open, body, who.name)
    except (IntakeError, SelectorError) as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None
    return web.json_response(opened | {"url": f"/api/v1/incidents/{opened['id']}"}, status=201)


def add_routes(web_app: web.Application, app: App, policy: ServiceLevelPolicy) -> None:
    """Mount the desk's routes; the desk content is loaded (and validated) here, at start."""
    auth.install(web_app, app.config)
    web_app[DESK_KEY] = Desk(app, policy, load_desk(app.config.roots))
    web_app.router.add_post("/api/v1/tickets", create_ticket)
