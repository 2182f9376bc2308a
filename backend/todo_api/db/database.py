"""The connection pool, and the one way the app sends SQL.

Statements are written as SQLAlchemy Core expressions over the SQLModel table, so the
table definition stays the single source of column names and types, but they are
compiled to PostgreSQL text once, at import, and run on a plain asyncpg pool. Per request
that skips SQLAlchemy's execution layer (result processing, the greenlet bridge, pool
events), which costs several times the database round trip itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import asyncpg
from asyncpg import Record
from asyncpg.connection import Connection, LoggedQuery
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from todo_api.db.url import DatabaseTarget
from todo_api.settings import Settings

# SQLAlchemy leaves the dialect constructor unannotated.
_DIALECT = asyncpg_dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
APPLICATION_NAME = "todo-api"

QueryObserver = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Query:
    """SQL text with numbered placeholders, and the parameter name behind each number."""

    sql: str
    parameters: tuple[str, ...]

    @classmethod
    def compile(cls, statement: ClauseElement) -> Self:
        """Compile a Core statement whose values are named `bindparam`s."""
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)  # noqa: S101  (a statement, not DDL)
        return cls(sql=compiled.string, parameters=tuple(compiled.positiontup or ()))

    def arguments(self, values: Mapping[str, object]) -> list[object]:
        """The positional arguments for `values`; a missing one is a programming error."""
        return [values[name] for name in self.parameters]


async def _keep_session(_connection: Connection[Record]) -> None:
    """Skip the pool's session reset on release (RESET ALL, UNLISTEN *, CLOSE ALL, ...).

    The app never changes session state: no SET, LISTEN, cursors, advisory locks or
    transactions spanning statements (asyncpg still rolls back any open transaction
    itself). The default reset would cost a second round trip on every request."""


class Database:
    """A pool of asyncpg connections. Each statement borrows a connection for exactly its
    own round trip, so no request can hold one longer, or forget to give it back.

    The pool connects lazily: the app starts while the database is down, and connections
    are made (and remade after an outage) on demand."""

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        *,
        max_size: int,
        acquire_timeout: float,
        statement_cache_size: int = 100,
        max_idle_seconds: float = 300.0,
    ) -> None:
        self._acquire_timeout = acquire_timeout
        self._observers: list[QueryObserver] = []
        self._pool: asyncpg.Pool[Record] = asyncpg.create_pool(
            min_size=0,
            max_size=max_size,
            max_inactive_connection_lifetime=max_idle_seconds,
            statement_cache_size=statement_cache_size,
            init=self._setup_connection,
            reset=_keep_session,
            **connect_kwargs,
        )

    async def open(self) -> None:
        """Prepare the pool (no connection is made yet)."""
        await self._pool

    async def close(self) -> None:
        """Close every connection; waits for borrowed ones to come back."""
        await self._pool.close()

    async def fetch_one(self, query: Query, **values: object) -> Record | None:
        """The first row, or None."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
            return await connection.fetchrow(query.sql, *query.arguments(values))

    async def fetch_all(self, query: Query, **values: object) -> list[Record]:
        """Every row."""
        async with self._pool.acquire(timeout=self._acquire_timeout) as connection:
            return await connection.fetch(query.sql, *query.arguments(values))

    @property
    def pool(self) -> asyncpg.Pool[Record]:
        """The underlying pool, for health and leak checks."""
        return self._pool

    def add_query_observer(self, observer: QueryObserver) -> None:
        """Call `observer` with the text of every statement sent from now on (for audits
        and statement counts in tests, or for tracing)."""
        self._observers.append(observer)

    def remove_query_observer(self, observer: QueryObserver) -> None:
        self._observers.remove(observer)

    async def _setup_connection(self, connection: Connection[Record]) -> None:
        connection.add_query_logger(self._notify)

    def _notify(self, logged: LoggedQuery) -> None:
        for observer in self._observers:
            observer(logged.query)


def create_database(target: DatabaseTarget, settings: Settings) -> Database:
    """The app's pool for `target`, sized and timed out as the settings say."""
    statement_timeout_ms = round(settings.db_statement_timeout * 1000)
    connect_kwargs = {
        **target.connect_kwargs,
        "timeout": settings.db_connect_timeout,
        "server_settings": {
            "application_name": APPLICATION_NAME,
            "statement_timeout": str(statement_timeout_ms),
        },
    }
    return Database(
        connect_kwargs, max_size=settings.db_pool_size, acquire_timeout=settings.db_pool_timeout
    )
