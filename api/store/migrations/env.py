"""Alembic environment: runs on the connection handed over by :func:`settle.api.store.database.migrate`."""

from __future__ import annotations

from alembic import context

from settle.api.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - Settle always hands a connection over
    raise RuntimeError("run migrations through `settle migrate`")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
