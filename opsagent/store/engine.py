"""Engine set-up and schema migrations (Alembic, run programmatically on open)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from opsagent.errors import StoreError
from opsagent.store import schema
from opsagent.store.origin import AUDIT_ORIGIN
from opsagent.store.revisions import MIGRATIONS, shipped_head
from opsagent.store.urls import sqlite_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["AUDIT_ORIGIN", "Store", "as_utc", "now", "shipped_head", "sqlite_url"]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the poller's writes
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _postgres_session(dbapi_conn: Any, _record: Any) -> None:
    """No parallel workers for our statements. They are short, keyed by index and LIMITed: PostgreSQL's
    planner still chose a parallel plan for the newest active incidents (two worker processes started
    per statement, 3.5 ms instead of 0.2), and twenty console sessions at once then waited 300–500 ms a
    page for process start-ups (bench/bench_console.py: JSON incidents list)."""
    cursor = dbapi_conn.cursor()
    cursor.execute("SET max_parallel_workers_per_gather = 0")
    cursor.close()
    dbapi_conn.commit()  # psycopg opens a transaction for the SET: end it so the setting holds for the session


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite drops the zone; every stored time is UTC, so put it back."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SERVER_CONNECTIONS = 10  # kept per agent: the request threads (web.threads) and the agent's jobs


def _pool(sqlite_file: bool, threads: int | None) -> dict[str, int]:
    """The connections kept open for ``threads`` threads using the store at once (None: SQLAlchemy's five).
    A connection opened above them serves one request and is closed after it: on SQLite that costs its
    pragmas, page cache and compiled statements, so every thread keeps one; a PostgreSQL connection is a
    server process, so an agent keeps at most :data:`SERVER_CONNECTIONS` (ten agents stay under the
    server's default ``max_connections`` of 100 when idle)."""
    if not threads:
        return {}
    if sqlite_file:
        return {"pool_size": threads, "max_overflow": 8}
    return {"pool_size": min(threads, SERVER_CONNECTIONS), "max_overflow": 10}


_AUDIT = insert(schema.audit)  # a constant statement: compiled once, not rebuilt per audit row


class Store:
    """Owns the engine. Repository functions live in the modules beside this one."""

    def __init__(self, url: str, *, migrate: bool = True, threads: int | None = None) -> None:
        """``threads``: how many threads may use the store at once (serve's pools; see :func:`_pool`)."""
        self.url = url
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        sqlite = backend == "sqlite"
        sqlite_file = sqlite and parsed.database not in (None, "", ":memory:")
        if sqlite_file:
            try:
                Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # OPSAGENT_HOME unwritable, or a file in the way
                raise StoreError(f"cannot create the store's directory {exc.filename}: {exc.strerror}") from None
        try:
            # a ping before each checkout finds a server that dropped the connection; a SQLite file has none
            pool = _pool(sqlite_file, threads)
            self.engine: Engine = create_engine(url, pool_pre_ping=not sqlite, **pool)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open store {self.safe_url}: {exc}") from None
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif backend == "postgresql":
            event.listen(self.engine, "connect", _postgres_session)
        if migrate:
            self.migrate()

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert head is not None
        return head

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def _is_current(self) -> bool:
        """The cheap check run at every open: the stored revision is the newest one shipped.
        Alembic (≈0.2 s to import) loads only when there is something to migrate or refuse."""
        try:
            with self.engine.connect() as conn:
                stored = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        except SQLAlchemyError:
            return False  # a new store: no version table yet
        return stored == {shipped_head()}

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema (no-op when current). Refuses a database from a newer release."""
        if revision == "head" and self._is_current():
            return
        from alembic import command
        from alembic.script import ScriptDirectory

        try:
            current = self.current_revision()
            known = {s.revision for s in ScriptDirectory.from_config(_alembic_config()).walk_revisions()}
            if current is not None and current not in known:
                raise StoreError(
                    f"store {self.safe_url} has schema revision {current}, newer than this opsagent knows; "
                    "upgrade opsagent"
                )
            with self.engine.begin() as conn:
                command.upgrade(_alembic_config(conn), revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate store {self.safe_url}: {exc.__class__.__name__}: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def audit(
        self, conn: Connection, actor: str, action: str, target: str, detail: dict[str, Any], origin: str | None = None
    ) -> None:
        """Write an audit row inside the caller's transaction: it lands exactly when the change does.
        ``origin`` defaults to where the running command or request came from (:data:`AUDIT_ORIGIN`)."""
        where = (AUDIT_ORIGIN.get() if origin is None else origin)[:255]
        row = {"at": now(), "actor": actor[:255], "action": action[:64], "target": target[:255], "detail": detail}
        conn.execute(_AUDIT, row | {"origin": where})

    def record(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        """An audit row in a transaction of its own (a write that changes nothing else in the store)."""
        with self.transaction() as conn:
            self.audit(conn, actor, action, target, detail)

    def audit_log(
        self,
        limit: int = 100,
        *,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. ``action`` matches the action or, ending in ``.``/``*``, every action it begins."""
        a = schema.audit.c
        query = select(schema.audit).order_by(a.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(a.actor == actor)
        if action is not None:
            prefix = action.rstrip("*")
            if prefix != action or action.endswith("."):
                query = query.where(a.action.startswith(prefix, autoescape=True))
            else:
                query = query.where(a.action == action)
        if since is not None:
            query = query.where(a.at >= since)
        with self.engine.connect() as conn:
            return [dict(row._mapping) | {"at": as_utc(row.at)} for row in conn.execute(query)]

    def close(self) -> None:
        self.engine.dispose()
