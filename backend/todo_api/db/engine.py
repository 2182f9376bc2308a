"""The one place the SQLAlchemy engine and its connection pool are built.

The engine runs in autocommit mode: every endpoint sends exactly one SQL statement, and
a single statement is atomic on its own, so an explicit BEGIN/COMMIT would only add two
round trips per request.
"""

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from todo_api.settings import Settings

APPLICATION_NAME = "todo-api"


def create_engine(url: URL, settings: Settings) -> AsyncEngine:
    """An engine with the pool size and the connect, wait and statement timeouts from settings."""
    statement_timeout_ms = round(settings.db_statement_timeout * 1000)
    return create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        connect_args={
            "timeout": settings.db_connect_timeout,
            "server_settings": {
                "application_name": APPLICATION_NAME,
                "statement_timeout": str(statement_timeout_ms),
            },
        },
    )
