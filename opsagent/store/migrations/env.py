"""Alembic environment: always driven programmatically with a connection passed in."""

from __future__ import annotations

from alembic import context

from opsagent.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables safely
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
