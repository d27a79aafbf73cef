"""Alembic environment: always driven programmatically with a connection passed in."""

from __future__ import annotations

from alembic import context

from opsagent.store.schema import include_object, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables safely
    compare_type=True,
    include_object=include_object,  # the knowledge base's full-text index is dialect-specific
)
with context.begin_transaction():
    context.run_migrations()
