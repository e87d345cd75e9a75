"""Alembic environment: runs against the engine of isomix.db, or a connection handed in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from isomix.db import get_engine
from isomix.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    with get_engine(url).connect() as new_connection:
        _run(new_connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
