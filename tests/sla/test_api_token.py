"""Writes through the JSON API are refused while no token is configured (never allowed by default),
and the refusal names no secret."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from opsagent.app import App
from opsagent.config import AgentConfig
from opsagent.metrics import Exposition
from opsagent.server import make_web_app
from opsagent.store import sqlite_url
from tests.sla.policies import policy


async def test_writes_refused_without_a_configured_token(tmp_path: Path) -> None:
    config = AgentConfig(
        home=tmp_path, store=sqlite_url(tmp_path / "s.db"), api_token_ref="env:OPSAGENT_TEST_UNSET_TOKEN"
    )
    app = App(config)
    server = TestServer(make_web_app(app, Exposition(app.metrics), None, policy()), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            url = f"http://127.0.0.1:{server.port}/api/v1/incidents/1/ack"
            async with session.post(url, json={}, headers={"Authorization": "Bearer anything"}) as resp:
                assert resp.status == 503
                body = await resp.json()
                assert "no API token" in body["error"] and "OPSAGENT_TEST_UNSET_TOKEN" not in body["error"]
            async with session.get(f"http://127.0.0.1:{server.port}/api/v1/incidents/1") as resp:
                assert resp.status == 404  # reads need no token
    finally:
        await server.close()
        app.close()
