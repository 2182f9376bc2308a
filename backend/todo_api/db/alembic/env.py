"""Alembic environment: runs migrations through the async driver the app itself uses.

pytest-alembic hands in its engine as the `connection` attribute; `todo-api migrate`
hands in the database URL and the asyncpg arguments translated from it
(`todo_api.db.migrate.alembic_config`).
"""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

import todo_api.models  # noqa: F401  (registers both tables on SQLModel.metadata)
from todo_api.db.url import ASYNC_DRIVER

config = context.config


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_run_migrations)
        await connection.commit()


def _write_sql() -> None:
    """Offline mode (`alembic upgrade --sql`): print the SQL instead of running it, for the
    migration linter (`make lint-migrations`) and for a DBA who applies it by hand."""
    context.configure(
        url=ASYNC_DRIVER.replace("+asyncpg", "") + "://",
        target_metadata=SQLModel.metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        _write_sql()
        return
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run_migrations(given)
        return
    if isinstance(given, AsyncEngine):
        asyncio.run(_run_with(given))
        return
    url = config.attributes.get("database_url")
    if not isinstance(url, URL):
        raise RuntimeError("No database given: call todo_api.db.migrate with a URL")
    # The translated DATABASE_URL (SSL context, timeouts, pooler-safe statement names).
    connect_args = config.attributes.get("connect_args", {})
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)

    async def run_and_dispose() -> None:
        try:
            await _run_with(engine)
        finally:
            await engine.dispose()

    asyncio.run(run_and_dispose())


_main()
