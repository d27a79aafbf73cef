"""Real receivers for notifications: an SMTP server (aiosmtpd) and a JSON webhook receiver (aiohttp),
both on 127.0.0.1 and free ports, in threads of the test process.

Fixtures:
    smtp_server    (session) -> SmtpServer: .port, .messages (email.message.Message list), .clear()
    webhook_server (session) -> WebhookServer: .url(path), .received (list of (path, JSON body)), .clear()
"""

from __future__ import annotations

import asyncio
import email
import json
import threading
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiohttp import web

from tests.peers.ports import LOCALHOST, free_port


class SmtpServer:
    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:  # pragma: no cover - the test extra installs it
            pytest.fail("aiosmtpd is not installed: bash scripts/test.sh installs the test extra", pytrace=False)
        self.messages: list[Message] = []
        self.port = free_port()
        server = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
                server.messages.append(email.message_from_bytes(envelope.content))
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname=LOCALHOST, port=self.port)
        self.controller.start()

    def clear(self) -> None:
        self.messages.clear()

    def stop(self) -> None:
        self.controller.stop()


class WebhookServer:
    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)
        self.thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("webhook receiver did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, LOCALHOST, self.port).start())
        self._ready.set()
        self.loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        self.received.append((request.path_qs, body))
        return web.json_response({"errcode": 0, "errmsg": "ok", "code": 0})

    def url(self, path: str = "/hook") -> str:
        return f"http://{LOCALHOST}:{self.port}{path}"

    def clear(self) -> None:
        self.received.clear()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer()
    try:
        yield server
    finally:
        server.stop()
