"""Alembic's environment: run on the connection `bot.store.postgres` hands it,
inside that connection's transaction (and its advisory lock)."""

from __future__ import annotations

from alembic import context

from bot.store.postgres import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Harbour's migrations run when the store opens (bot.store.postgres.PostgresStore.open), "
        "on its connection: there is no alembic.ini to run them from the command line."
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    version_table_schema=context.config.attributes.get("schema"),
)
with context.begin_transaction():
    context.run_migrations()
