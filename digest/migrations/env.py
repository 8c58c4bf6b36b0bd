"""Alembic's environment: runs the revisions on the connection digest.migrate passes in
(`config.attributes["connection"]`); there is no alembic.ini and no offline (--sql) mode."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("digest migrations run through digest.migrate, on a connection")

# SQLite cannot ALTER a column in place: batch operations copy the table instead.
context.configure(connection=connection, target_metadata=None,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
