"""Knowledge-base tests run on both stores: an SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsagent.store import Store, sqlite_url
from tests.peers.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def kb_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated store for one test."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "store.db")
    else:
        url = str(request.getfixturevalue("pg_empty_url"))
    store = Store(url)
    yield store
    store.close()


def new_pg_store(server: PostgresServer) -> tuple[Store, str]:
    name = f"opsagent_kb_{uuid.uuid4().hex[:12]}"
    server.create_database(name)
    return Store(server.url(name)), name
