"""Alembic environment, configured programmatically by ``storage.database``.

``storage.upgrade(url)`` passes an open connection in
``config.attributes["connection"]``; without one it connects to the
``sqlalchemy.url`` main option (set by ``storage.database.alembic_config(url)``).
"""

from __future__ import annotations

from alembic import context

from supportbot.storage import tables
from supportbot.storage.database import make_engine

config = context.config
target_metadata = tables.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no database: call storage.upgrade(url), which passes the connection or the URL")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
