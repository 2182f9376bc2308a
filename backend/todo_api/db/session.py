"""One request's access to the database."""

from types import TracebackType
from typing import Any, Self

from sqlalchemy import Executable
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class Database:
    """A pooled connection, taken on the first statement and returned by `close`.

    Taking it lazily means a request that fails validation never touches the pool: a
    flood of bad requests cannot starve good ones, and a 422 stays a 422 while the
    database is down."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def execute(self, statement: Executable) -> CursorResult[Any]:
        """Run one statement in autocommit mode; the rows come back fully buffered."""
        if self._connection is None:
            self._connection = await self._engine.connect()
        return await self._connection.execute(statement)

    async def close(self) -> None:
        """Return the connection to the pool, if one was taken."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
