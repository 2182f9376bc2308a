"""The SQL the app sends, as PostgreSQL receives it, for the audits and statement counts.

The app's `Database` is the real one; only its connections are of a subclass that hands
each statement's text to the observers registered here (asyncpg's own query-logger hook),
so the package carries no code that exists for the tests alone.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg
from asyncpg.connection import LoggedQuery
from fastapi import FastAPI

from todo_api.db.database import Database, pool_options
from todo_api.db.url import parse_database_url
from todo_api.settings import Settings

StatementObserver = Callable[[str], None]

# What asyncpg itself sends the first time a connection meets a type it has no codec for
# (it turns JIT off, reads the type's catalogue rows, and turns JIT back on).
_INTROSPECTION = ("current_setting('jit')", "set_config('jit'", "typeinfo_tree")


def is_driver_introspection(statement: str) -> bool:
    """A statement asyncpg sends on its own behalf, to learn a type, not one of the app's."""
    return any(marker in statement for marker in _INTROSPECTION)


class StatementRecordingConnection(asyncpg.Connection):
    """A connection that reports every statement it sends to `observers`."""

    observers: ClassVar[list[StatementObserver]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_query_logger(self._report)

    def _report(self, logged: LoggedQuery) -> None:
        for observer in list(self.observers):
            observer(logged.query)


@asynccontextmanager
async def recording_database(app: FastAPI, settings: Settings) -> AsyncIterator[Database]:
    """Put, in place of the database the app's lifespan opened, one configured exactly like
    it whose connections report their statements; the app's own is restored afterwards."""
    assert settings.database_url is not None
    options = pool_options(parse_database_url(settings.database_url.get_secret_value()), settings)
    database = Database(
        {**options.connect_kwargs, "connection_class": StatementRecordingConnection},
        max_size=settings.db_pool_size,
        acquire_timeout=settings.db_pool_timeout,
        statement_cache_size=options.statement_cache_size,
    )
    await database.open()
    original = app.state.database
    app.state.database = database
    try:
        yield database
    finally:
        app.state.database = original
        await database.close()


@asynccontextmanager
async def observing(observer: StatementObserver) -> AsyncIterator[None]:
    """`observer` sees every statement sent by a recording database while the block runs."""
    StatementRecordingConnection.observers.append(observer)
    try:
        yield
    finally:
        StatementRecordingConnection.observers.remove(observer)
