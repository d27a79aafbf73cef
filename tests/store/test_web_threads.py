"""HTTP handlers run their blocking work on a pool of their own (opsagent.httpd.threads), not on the
event loop's default pool, which serve sizes for polling: dead targets blocking every poll thread
cannot stall the console or the API, and a console write still carries its audit origin across the
hand-off. On SQLite, the store keeps a connection per thread that may use it at once, instead of
opening (pragmas, a cold page cache, statements compiled again) and closing one per request above five."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import event, select, text

from bench.console_data import Sample, fill
from opsagent.app import App
from opsagent.auth.sessions import csrf_token, open_session
from opsagent.config import AgentConfig, shipped_content_root
from opsagent.httpd.threads import THREAD_PREFIX
from opsagent.metrics import Exposition
from opsagent.server import make_web_app
from opsagent.sla.policy import load_policy
from opsagent.store import Store, schema, sqlite_url, user_repo


class Served:
    def __init__(self, client: aiohttp.ClientSession, app: App, sample: Sample, cookie: str) -> None:
        self.client, self.app, self.sample, self.cookie = client, app, sample, cookie
        self.threads: set[str] = set()


@pytest.fixture
async def served(store_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    store = Store(store_url)
    try:
        sample = fill(store, tickets=60, assets=10, runs=5, requesters=10, active_share=0.8)
    finally:
        store.close()
    config = AgentConfig(home=tmp_path, store=store_url)
    app = App(config)
    user_id = user_repo.add_user(app.store, "lisi", {"role": "engineer"}, None, "test")
    cookie = open_session(app.store, config.auth, user_id, "127.0.0.1")
    web_app = make_web_app(app, Exposition(app.metrics), None, load_policy([shipped_content_root()]))
    server = TestServer(web_app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}", cookies={"opsagent_session": cookie}) as c:
            found = Served(c, app, sample, cookie)
            event.listen(app.store.engine, "before_cursor_execute", lambda *_a: found.threads.add(_name()))
            yield found
    finally:
        await server.close()
        app.close()


def _name() -> str:
    return threading.current_thread().name


async def test_pages_answer_while_every_default_thread_is_blocked(served: Served) -> None:
    loop = asyncio.get_running_loop()
    default = ThreadPoolExecutor(2, thread_name_prefix="blocked-poll")
    loop.set_default_executor(default)
    release = threading.Event()
    blocked = [loop.run_in_executor(None, release.wait) for _ in range(2)]  # as dead targets' connects do
    try:
        for path in ("/console/queue", f"/console/incidents/{served.sample.ticket_ids[0]}", "/api/v1/incidents"):
            async with asyncio.timeout(30):
                async with served.client.get(path, allow_redirects=False) as resp:
                    assert resp.status == 200, path
    finally:
        release.set()
        await asyncio.gather(*blocked)
        default.shutdown()
    assert served.threads and all(name.startswith(THREAD_PREFIX) for name in served.threads), served.threads


async def test_a_console_write_keeps_its_audit_origin(served: Served) -> None:
    ticket = served.sample.ticket_ids[0]
    form = {"csrf_token": csrf_token(served.cookie), "message": "called back"}
    async with served.client.post(f"/console/incidents/{ticket}/note", data=form, allow_redirects=False) as resp:
        assert resp.status in (200, 303), await resp.text()
    assert served.threads and all(name.startswith(THREAD_PREFIX) for name in served.threads), served.threads
    a = schema.audit.c
    with served.app.store.engine.connect() as conn:
        row = conn.execute(select(a.actor, a.origin).order_by(a.id.desc()).limit(1)).one()
    assert row.actor == "lisi" and row.origin.startswith("http 127.0.0.1"), row


def test_sqlite_keeps_a_connection_per_thread(tmp_path: Path) -> None:
    threads = 8  # more than SQLAlchemy's default pool of five
    store = Store(sqlite_url(tmp_path / "store.db"), threads=threads)
    try:
        opened: list[int] = []
        event.listen(store.engine, "connect", lambda *_a: opened.append(1))
        after_first: list[int] = []
        for _ in range(3):  # three rounds of eight readers at once, each holding its connection
            barrier = threading.Barrier(threads)

            def read(wait: threading.Barrier = barrier) -> None:
                with store.engine.connect() as conn:
                    wait.wait(timeout=30)
                    conn.execute(text("SELECT 1")).one()

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda _i: read(), range(threads)))
            after_first = after_first or [len(opened)]
        assert 0 < after_first[0] <= threads and len(opened) == after_first[0]  # opened once each, then kept
    finally:
        store.close()
