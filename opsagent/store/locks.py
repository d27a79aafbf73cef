"""Store-wide mutual exclusion for one-off work that two agents starting together could both do.

On PostgreSQL: a transaction-level advisory lock on a connection of its own, held for the ``with``
block and dropped by the server when that transaction ends, however it ends (a killed agent included).
SQLite takes one ``serve`` (:mod:`opsagent.cluster.single`): nothing to do there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select

from opsagent.store.engine import Store

SEED = 0x6F70_7361_5EED  # "opsa" + seed: the lock of the first start's seed inventory


@contextmanager
def exclusive(store: Store, key: int) -> Iterator[None]:
    """Run the block while no other agent on this store runs one under ``key``."""
    if store.engine.dialect.name != "postgresql":
        yield
        return
    with store.engine.connect() as conn, conn.begin():
        conn.execute(select(func.pg_advisory_xact_lock(key)))
        yield
