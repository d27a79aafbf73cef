"""The console's queue, ticket and asset pages read the store a fixed number of times, whatever the
number of rows they show (no statement per row), and read the signed-in user once — with the session,
not again for the page — on SQLite and a real PostgreSQL, through the real web app."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import event, func, select

from bench.console_data import Sample, fill
from opsagent.app import App
from opsagent.auth.sessions import open_session
from opsagent.config import AgentConfig, shipped_content_root
from opsagent.metrics import Exposition
from opsagent.server import make_web_app
from opsagent.sla.policy import load_policy
from opsagent.store import Store, schema, user_repo


class Pages:
    def __init__(self, client: aiohttp.ClientSession, statements: list[str]) -> None:
        self.client, self.statements = client, statements

    async def read(self, path: str) -> Counter[str]:
        """The tables the page's statements read from, counted."""
        await self.get(path)  # once before: the queue's select options are kept a while
        self.statements.clear()
        await self.get(path)
        found = Counter(_table(s) for s in self.statements)
        found["(statements)"] = len(self.statements)
        found["(reads of users)"] = sum(1 for s in self.statements if re.search(r"\b(FROM|JOIN) users\b", s))
        return found

    async def get(self, path: str) -> str:
        async with self.client.get(path, allow_redirects=False) as resp:
            assert resp.status == 200, path
            return await resp.text()


def _table(statement: str) -> str:
    words = statement.replace("\n", " ").split()
    return words[words.index("FROM") + 1] if "FROM" in words else words[0]


@pytest.fixture
async def pages(store_url: str, tmp_path: Path) -> AsyncIterator[tuple[Pages, Sample, Store]]:
    store = Store(store_url)
    sample = fill(store, tickets=300, assets=30, runs=20, requesters=20, active_share=0.5)
    config = AgentConfig(home=tmp_path, store=store_url)
    app = App(config)
    statements: list[str] = []
    event.listen(app.store.engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: statements.append(sql))
    user_id = user_repo.add_user(app.store, "lisi", {"role": "engineer", "timezone": "Asia/Shanghai"}, None, "test")
    cookie = open_session(app.store, config.auth, user_id, "127.0.0.1")
    web_app = make_web_app(app, Exposition(app.metrics), None, load_policy([shipped_content_root()]))
    server = TestServer(web_app, host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(base, cookies={"opsagent_session": cookie}) as client:
            yield Pages(client, statements), sample, store
    finally:
        await server.close()
        app.close()
        store.close()


def _most_and_fewest(store: Store, column: Any, key: Any, names: list[Any]) -> tuple[Any, Any]:
    with store.engine.connect() as conn:
        counts = dict(conn.execute(select(key, func.count()).where(key.in_(names)).group_by(key)).all())
    ranked = sorted(names, key=lambda n: counts.get(n, 0))
    assert counts.get(ranked[-1], 0) > counts.get(ranked[0], 0) + 1, column
    return ranked[-1], ranked[0]


async def test_the_pages_read_the_store_a_fixed_number_of_times(pages: tuple[Pages, Sample, Store]) -> None:
    client, sample, store = pages
    busiest, quietest = _most_and_fewest(store, "tickets", schema.incidents.c.asset, sample.assets)
    full = await client.read("/console/queue?status=all")
    some = await client.read(f"/console/queue?status=all&asset={busiest}")
    shown = [(await client.get(p)).count('href="/console/incidents/') // 2 for p in (
        "/console/queue?status=all", f"/console/queue?status=all&asset={busiest}")]  # fmt: skip
    assert shown[0] == 50 and 0 < shown[1] < 50, shown
    assert full == some and full["(reads of users)"] == 1, full
    assert full["(statements)"] == 2, full  # the session with its user; the page with requesters and clocks

    many, few = [await client.read(f"/console/assets/{name}") for name in (busiest, quietest)]
    assert many == few and many["(reads of users)"] == 1, many

    busiest, quietest = _most_and_fewest(store, "events", schema.incident_events.c.incident_id, sample.ticket_ids)
    many, few = [await client.read(f"/console/incidents/{i}") for i in (busiest, quietest)]
    assert many == few and many["(reads of users)"] == 1, many
