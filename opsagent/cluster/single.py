"""SQLite has one writer: a second ``serve`` on the same file is refused.

The guard is an OS lock (``flock``) on ``<db>.lock`` beside the database, held for the life of the
process. The kernel drops it when the process dies however it dies (``kill -9`` included), so a stale
lock file never blocks the next start: only a live holder does.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from opsagent.errors import StoreError


class StoreInUse(StoreError):
    """Another live ``serve`` holds the SQLite store (its pid, when it wrote it)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is in use by another opsagent serve (pid {holder or '?'})")
        self.path = path
        self.holder = holder


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory stores."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def hold(url: str) -> IO[str] | None:
    """Take the store's serve lock for this process; StoreInUse if a live process has it. The
    returned file must stay open (closing it, or exiting, releases the lock). None: not SQLite."""
    path = sqlite_file(url)
    if path is None:
        return None
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 -- held open until the process ends
    except OSError as exc:
        raise StoreError(f"cannot create the store's lock file {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise StoreInUse(path, holder) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
