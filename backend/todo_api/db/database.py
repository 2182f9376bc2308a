"""The connection pool, and the one way the app sends SQL.

Statements are written as SQLAlchemy Core expressions over the SQLModel table, so the
table definition stays the single source of column names and types, but they are
compiled to PostgreSQL text once, at import, and run on a plain asyncpg pool. Per request
that skips SQLAlchemy's execution layer (result processing, the greenlet bridge, pool
events), which costs several times the database round trip itself.

The pool works directly against PostgreSQL and through a transaction pooler (PgBouncer in
`pool_mode = transaction`, as Neon's `-pooler` endpoints): in pooled mode asyncpg's
statement cache is off, so every statement is an unnamed one whose Parse and Bind travel
in one transaction, and statement_timeout (a startup parameter poolers refuse) is enforced
by the client, which cancels the statement through the pooler. See
specs/decisions/0008-neon-pooled-ssl-and-outages.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

import asyncpg
from asyncpg import Record
from asyncpg.connection import Connection
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import ClauseElement

from todo_api.db.url import DatabaseTarget
from todo_api.errors import DatabaseNotMigrated, DatabaseReadOnly, DatabaseUnavailable
from todo_api.metrics import Metrics
from todo_api.settings import Settings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy
    from asyncpg.transaction import Transaction as DriverTransaction

# SQLAlchemy leaves the dialect constructor unannotated.
_DIALECT = asyncpg_dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
APPLICATION_NAME = "todo-api"
# asyncpg's own default; 0 in pooled mode, where named statements would outlive the
# transaction that prepared them on whichever server connection the pooler picked.
DEFAULT_STATEMENT_CACHE_SIZE = 100
# How long closing the pool waits for borrowed connections before cutting them.
CLOSE_TIMEOUT_SECONDS = 10.0
# How long a connection whose statement outlived DB_STATEMENT_TIMEOUT may wait for the
# server to acknowledge asyncpg's cancel request before it is terminated instead (at most
# half the statement timeout). Ample for a cancel to reach a live server or pooler (a new
# connection, TLS included, and one round trip); a frozen server never acknowledges it.
CANCEL_GRACE_SECONDS = 1.0

logger = logging.getLogger(__name__)

# The connection broke under the statement: the server closed it (it was dropped while idle,
# as Neon does when a compute scales to zero, or the server restarted), or the socket died.
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    ConnectionResetError,
    BrokenPipeError,
)

# The statements come from the models, so a table or column the database does not have
# means its schema is behind the code: not migrated, rather than a bug in the SQL.
_SCHEMA_BEHIND: tuple[type[BaseException], ...] = (
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedColumnError,
)

# A named statement this connection prepared is gone (26000), or one it is preparing
# already exists (42P05): the statements of one connection reach several server
# connections, which only a transaction pooler does.
_PREPARED_STATEMENT_LOST: tuple[type[BaseException], ...] = (
    asyncpg.InvalidSQLStatementNameError,
    asyncpg.DuplicatePreparedStatementError,
)

# A connect the server refused or cut during the handshake: a compute waking up, or a
# server starting (57P03). Tried again within DB_CONNECT_TIMEOUT (see _acquire_connecting).
# Not every OSError: a certificate that fails its checks, or a host name that does not
# resolve, will not change by waiting.
_CONNECT_REFUSED: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
)
# A rollback that could not be done (or not within the cancel grace): its connection is
# closed instead, and the error that made the block fail is the one the caller sees.
_ROLLBACK_FAILED: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
_FIRST_PAUSE = 0.05
_LONGEST_PAUSE = 1.0

_Result = TypeVar("_Result")
if TYPE_CHECKING:
    _Send = Callable[[PoolConnectionProxy[Record], str, list[object]], Awaitable[_Result]]


@dataclass(frozen=True, slots=True)
class Query:
    """SQL text with numbered placeholders, and the parameter name behind each number."""

    sql: str
    parameters: tuple[str, ...]
    # A SELECT that writes nothing (no INSERT, UPDATE or DELETE in a CTE): sending it again
    # cannot change anything, so it may be retried.
    read_only: bool = False

    @classmethod
    def compile(cls, statement: ClauseElement) -> Self:
        """Compile a Core statement whose values are named `bindparam`s."""
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)  # noqa: S101  (a statement, not DDL)
        # A Python constant in an expression (`column + 1`) becomes an anonymous parameter
        # that no caller could know to fill: refuse it here, at import, not per request.
        anonymous = sorted(name for name, bind in compiled.binds.items() if bind.unique)
        if anonymous:
            raise TypeError(
                f"constants {anonymous} must be written into the SQL (literal_column): "
                f"{compiled.string}"
            )
        return cls(
            sql=compiled.string,
            parameters=tuple(compiled.positiontup or ()),
            read_only=_reads_only(statement),
        )

    def arguments(self, values: Mapping[str, object]) -> list[object]:
        """The positional arguments for `values`. A value missing, or one the statement has
        no parameter for, is a programming error: dropping it would lose data silently."""
        unused = values.keys() - self.parameters
        if unused:
            raise TypeError(f"no parameter for {sorted(unused)} in: {self.sql}")
        return [values[name] for name in self.parameters]


def _reads_only(statement: ClauseElement) -> bool:
    """A SELECT with no data-modifying statement anywhere in it. `WITH gone AS (DELETE ...)
    SELECT count(*) FROM gone` is a SELECT to SQLAlchemy, and a write to the database."""
    return bool(getattr(statement, "is_select", False)) and not any(
        isinstance(element, UpdateBase) for element in visitors.iterate(statement)
    )


async def _keep_session(_connection: Connection[Record]) -> None:
    """Skip the pool's session reset on release (RESET ALL, UNLISTEN *, CLOSE ALL, ...).

    The app never changes session state: no SET, LISTEN, cursors or session advisory
    locks; its one transaction (a move) ends before the connection is given back, with its
    advisory lock (asyncpg still rolls back any transaction left open). The default reset
    would cost a second round trip on every request."""


class Database:
    """A pool of asyncpg connections. Each statement borrows a connection for exactly its
    own round trip, so no request can hold one longer, or forget to give it back.

    The pool connects lazily: the app starts while the database is down, and connections
    are made (and remade after an outage) on demand. A connection the server closed while
    it sat idle is noticed by asyncpg and replaced when next borrowed; a read that still
    meets a connection breaking under it is sent once more on a fresh one. A write never
    is: the server may have applied it before the connection broke, so the caller gets
    the error (a 503) rather than a possible duplicate. The same holds when asyncpg falls
    out of step with the server (InternalClientError): a read goes again, a write only
    when asyncpg provably sent nothing for it to run.

    A statement that outlives DB_STATEMENT_TIMEOUT is cancelled (asyncpg sends a cancel
    request) and its connection given back within the cancel grace: kept when the server
    acknowledges the cancel in time, terminated when it does not, as a frozen server
    never does. The caller has its 503 within the timeout plus the grace.

    Borrowers take turns first come, first served. asyncpg's pool alone lets a newcomer
    take a connection that was just handed back while an earlier waiter is still being
    woken (MagicStack/asyncpg#1247), so under load some requests lose that race again and
    again: at 64 clients on a pool of 10 the slowest 1% waited four to five times as long
    as the median. A FIFO semaphore as wide as the pool goes in front of it, so a borrower that
    passes it always finds a connection, and waiting is in arrival order.

    With `metrics`, the pool's gauges follow the semaphore: a borrower is waiting while it
    queues for a turn (counted only when it has to queue), and in use from its turn until
    it gives the connection back."""

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        *,
        max_size: int,
        acquire_timeout: float,
        connect_budget: float = 0.0,
        statement_cache_size: int = DEFAULT_STATEMENT_CACHE_SIZE,
        max_idle_seconds: float = 300.0,
        cancel_grace: float = CANCEL_GRACE_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self._acquire_timeout = acquire_timeout
        self._cancel_grace = cancel_grace
        self._max_size = max_size
        self._metrics = metrics
        self._connect_budget = connect_budget
        self._told_pooled = False
        # FIFO in every Python this project supports (python/cpython#93222, in 3.11.0): a
        # released slot goes to the longest waiter, and newcomers queue behind waiters.
        self._turns = asyncio.Semaphore(max_size)
        self._pool: asyncpg.Pool[Record] = asyncpg.create_pool(
            min_size=0,
            max_size=max_size,
            max_inactive_connection_lifetime=max_idle_seconds,
            statement_cache_size=statement_cache_size,
            reset=_keep_session,
            **connect_kwargs,
        )

    async def open(self) -> None:
        """Prepare the pool (no connection is made yet)."""
        await self._pool
        if self._metrics is not None:
            self._metrics.pool_size.inc(self._max_size)

    async def close(self) -> None:
        """Close every connection gracefully; waits up to CLOSE_TIMEOUT_SECONDS for borrowed
        ones to come back, then cuts whatever is left."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._pool.close()
        except TimeoutError:
            logger.warning("Database connections still busy at shutdown; closing them")
            self._pool.terminate()
        if self._metrics is not None:
            self._metrics.pool_size.dec(self._max_size)
        logger.info("Database pool closed")

    async def fetch_one(self, query: Query, **values: object) -> Record | None:
        """The first row, or None."""
        return await self._send(query, values, _fetch_one)

    async def fetch_all(self, query: Query, **values: object) -> list[Record]:
        """Every row."""
        return await self._send(query, values, _fetch_all)

    async def _send(
        self, query: Query, values: Mapping[str, object], send: _Send[_Result]
    ) -> _Result:
        arguments = query.arguments(values)
        attempt = 1
        while True:
            connection = await self._borrow()
            executions = _Executions(connection)
            try:
                return await send(connection, query.sql, arguments)
            except _CONNECTION_LOST as exc:
                if attempt > 1 or not query.read_only:
                    raise
                logger.info("Connection lost (%s); sending the read again", type(exc).__name__)
            except _PREPARED_STATEMENT_LOST as exc:
                # A cached statement prepared on one server connection, used on another:
                # a transaction pooler the settings did not declare. Not a bug to 500 on.
                connection.terminate()
                self._say_pooled_once(exc)
                raise DatabaseUnavailable(f"prepared statement lost ({exc})") from exc
            except _SCHEMA_BEHIND as exc:
                raise DatabaseNotMigrated(str(exc)) from exc
            except asyncpg.ReadOnlySQLTransactionError as exc:
                raise DatabaseReadOnly(str(exc)) from exc
            except asyncpg.InternalClientError as exc:
                # The driver's conversation with the server is out of step: the connection
                # must never be lent again. asyncpg raises this before sending (the server
                # said goodbye on an idle connection that still looks open, as in a
                # shutdown, and the next statement cannot start) and after (a reply it
                # cannot process, when the statement has run and a write may have
                # committed). A read goes again; a write only if it provably never left.
                _terminate(connection)
                if attempt > 1:
                    raise DatabaseUnavailable(f"connection broken ({exc})") from exc
                if not query.read_only and executions.happened():
                    raise DatabaseUnavailable(
                        f"connection broken after the write was sent ({exc})"
                    ) from exc
                logger.info("Connection out of step with the server; sending again")
            finally:
                await self._give_back(connection)
            attempt += 1

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One connection for a few statements that commit together, or not at all.

        Only for what one statement cannot do: a move, which must lock its list before it
        reads the neighbours (a statement's snapshot is taken before any lock it waits
        for). Nothing in it is sent again after a lost connection: the caller sees the
        error (a 503). A statement that outlives DB_STATEMENT_TIMEOUT is cancelled and its
        TimeoutError (a 503) raised within the cancel grace, as outside a transaction."""
        connection = await self._borrow()
        try:
            block = connection.transaction()
            await block.start()
            try:
                yield Transaction(connection)
            except BaseException:
                await self._roll_back(connection, block)
                raise
            await block.commit()
        except _SCHEMA_BEHIND as exc:
            raise DatabaseNotMigrated(str(exc)) from exc
        except asyncpg.ReadOnlySQLTransactionError as exc:
            raise DatabaseReadOnly(str(exc)) from exc
        except asyncpg.InternalClientError as exc:
            _terminate(connection)
            raise DatabaseUnavailable(f"connection broken ({exc})") from exc
        finally:
            await self._give_back(connection)

    async def _roll_back(
        self, connection: PoolConnectionProxy[Record], block: DriverTransaction
    ) -> None:
        """Roll back the transaction of a block that failed, or terminate its connection,
        which ends the transaction on the server too (a pooler closes its server
        connection when its client leaves mid-transaction).

        After a statement timeout asyncpg sends ROLLBACK only once the server has
        acknowledged the cancel request, and would wait another DB_STATEMENT_TIMEOUT for
        that: the cancel grace bounds the whole rollback instead."""
        try:
            async with asyncio.timeout(self._cancel_grace):
                await block.rollback()
        except _ROLLBACK_FAILED as exc:
            logger.info("Rollback failed (%s); closing the connection", type(exc).__name__)
            _terminate(connection)

    def _say_pooled_once(self, exc: BaseException) -> None:
        if self._told_pooled:
            return
        self._told_pooled = True
        logger.error(
            "Prepared statements are lost between statements (%s): the database is reached "
            "through a transaction pooler (PgBouncer) that was not detected. Set "
            "DB_POOLED=true; until then such requests answer 503.",
            exc,
        )

    async def _borrow(self) -> PoolConnectionProxy[Record]:
        """A connection, after the borrowers that came earlier; TimeoutError (a 503) after
        DB_POOL_TIMEOUT, which also bounds opening a new connection.

        `asyncio.timeout` rather than `acquire(timeout=...)`, whose `wait_for` runs every
        acquire as a task of its own on Python 3.11."""
        metrics = self._metrics
        async with asyncio.timeout(self._acquire_timeout):
            if metrics is not None and self._turns.locked():
                await self._queue_for_turn(metrics)
            else:  # a free turn: acquire() returns at once
                await self._turns.acquire()
            if metrics is not None:
                metrics.pool_in_use.inc()
            try:
                return await self._acquire_connecting()
            except BaseException:
                self._end_turn()
                raise

    async def _queue_for_turn(self, metrics: Metrics) -> None:
        metrics.pool_waiting.inc()
        try:
            await self._turns.acquire()
        finally:
            metrics.pool_waiting.dec()

    def _end_turn(self) -> None:
        self._turns.release()
        if self._metrics is not None:
            self._metrics.pool_in_use.dec()

    async def _acquire_connecting(self) -> PoolConnectionProxy[Record]:
        """`pool.acquire()`, trying a refused connect again within DB_CONNECT_TIMEOUT.

        A Neon compute that scaled to zero refuses or drops connections for the few hundred
        milliseconds to few seconds it takes to wake: the first request after a quiet spell
        waits for it instead of failing. The pauses double from 50 ms up to 1 s, each of a
        random length up to that (full jitter), so many waiting processes do not knock in
        step. A connect that times out is not tried again: its time is the budget."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._connect_budget
        pause = _FIRST_PAUSE
        while True:
            try:
                return await self._pool.acquire()
            except TimeoutError:
                raise
            except _CONNECT_REFUSED as exc:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise
                logger.info("Connect refused (%s); trying again", type(exc).__name__)
                await asyncio.sleep(min(remaining, random.uniform(0, pause)))  # noqa: S311  (jitter, not a secret)
                pause = min(pause * 2, _LONGEST_PAUSE)

    async def _give_back(self, connection: PoolConnectionProxy[Record]) -> None:
        """Return `connection` to the pool within the cancel grace.

        Releasing a connection whose statement timed out (or whose request was cancelled)
        waits for the server to acknowledge asyncpg's cancel request. A server that stopped
        answering never does, and asyncpg would give up only after another
        DB_STATEMENT_TIMEOUT, holding the pool slot and the caller's answer all that time.
        Past the grace asyncpg terminates the connection instead; the cancel request it
        sent (or, connected directly, the server's own statement_timeout) still stops the
        statement on the server. Any other release does no I/O and returns at once."""
        try:
            await self._pool.release(connection, timeout=self._cancel_grace)
        except TimeoutError:
            logger.info(
                "The database did not acknowledge a cancel within %.1f s; connection closed",
                self._cancel_grace,
            )
        finally:
            self._end_turn()

    @property
    def pool(self) -> asyncpg.Pool[Record]:
        """The underlying pool, for health and leak checks."""
        return self._pool


def cancel_grace(statement_timeout: float) -> float:
    """How long a timed-out statement's cancel may take: CANCEL_GRACE_SECONDS, and at most
    half of DB_STATEMENT_TIMEOUT, so a caller has its answer within 1.5 timeouts at worst."""
    return min(CANCEL_GRACE_SECONDS, statement_timeout / 2)


def _terminate(connection: PoolConnectionProxy[Record]) -> None:
    """Close `connection` at once, unless asyncpg already did (and detached it)."""
    with contextlib.suppress(asyncpg.InterfaceError):
        connection.terminate()


class _Executions:
    """Whether the connection sent a statement for execution since this was made.

    asyncpg counts, per connection, the statements it has sent an Execute for (Bind,
    Execute and Sync go out in one write, and the count goes up right after it); Parse
    and Describe, which run nothing, are not counted. A count that did not move means no
    statement ran. The count is asyncpg's internal `queries_count`; without it, every
    statement is taken to have been sent."""

    __slots__ = ("_before", "_protocol")

    def __init__(self, connection: PoolConnectionProxy[Record]) -> None:
        self._protocol = getattr(connection, "_protocol", None)
        self._before = self._count()

    def _count(self) -> int | None:
        count = getattr(self._protocol, "queries_count", None)
        return count if isinstance(count, int) else None

    def happened(self) -> bool:
        return self._before is None or self._count() != self._before


class Executor(Protocol):
    """Where a service sends its statements: the pool (`Database`, each statement on its
    own, committed by itself) or a `Transaction` (statements that commit together). A
    service written against this runs alone or as one step of a larger write, such as an
    idempotent request, whose key must commit with the write it records."""

    async def fetch_one(self, query: Query, **values: object) -> Record | None:
        """The first row, or None."""

    async def fetch_all(self, query: Query, **values: object) -> list[Record]:
        """Every row."""


class Transaction:
    """The statements of `Database.transaction`, on its one connection."""

    def __init__(self, connection: PoolConnectionProxy[Record]) -> None:
        self._connection = connection

    async def fetch_one(self, query: Query, **values: object) -> Record | None:
        """The first row, or None."""
        return await _fetch_one(self._connection, query.sql, query.arguments(values))

    async def fetch_all(self, query: Query, **values: object) -> list[Record]:
        """Every row."""
        return await _fetch_all(self._connection, query.sql, query.arguments(values))

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A savepoint for the statements in it: one that fails rolls back to it, and the
        transaction goes on (after a refused insert, to ask the database why)."""
        return self._connection.transaction()


async def _fetch_one(
    connection: PoolConnectionProxy[Record], sql: str, arguments: list[object]
) -> Record | None:
    return await connection.fetchrow(sql, *arguments)


async def _fetch_all(
    connection: PoolConnectionProxy[Record], sql: str, arguments: list[object]
) -> list[Record]:
    return await connection.fetch(sql, *arguments)


def is_pooled(target: DatabaseTarget, settings: Settings) -> bool:
    """Pooled mode: forced either way by DB_POOLED, otherwise detected from the host name."""
    return settings.db_pooled if settings.db_pooled is not None else target.pooler_host


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """How the app's pool connects: asyncpg.connect arguments and the statement cache."""

    connect_kwargs: dict[str, Any]
    statement_cache_size: int
    pooled: bool


def pool_options(target: DatabaseTarget, settings: Settings) -> PoolOptions:
    """The pool's options for `target` under `settings`.

    Every statement is bounded on the client by DB_STATEMENT_TIMEOUT (asyncpg cancels it
    and raises TimeoutError, a 503), so a server that stops answering cannot hold a
    request longer. Connected directly, PostgreSQL enforces the same limit itself too
    (statement_timeout as a startup parameter); a transaction pooler refuses that
    parameter, so in pooled mode the client's limit is the only one. A connect_timeout in
    the URL wins over DB_CONNECT_TIMEOUT, as it would for libpq."""
    pooled = is_pooled(target, settings)
    connect_kwargs = target.connect_arguments(
        application_name=APPLICATION_NAME, connect_timeout=settings.db_connect_timeout
    )
    connect_kwargs["command_timeout"] = settings.db_statement_timeout
    if not pooled:
        statement_timeout_ms = str(round(settings.db_statement_timeout * 1000))
        connect_kwargs["server_settings"]["statement_timeout"] = statement_timeout_ms
    return PoolOptions(
        connect_kwargs=connect_kwargs,
        statement_cache_size=0 if pooled else DEFAULT_STATEMENT_CACHE_SIZE,
        pooled=pooled,
    )


def create_database(
    target: DatabaseTarget, settings: Settings, metrics: Metrics | None = None
) -> Database:
    """The app's pool for `target`, sized and timed out as the settings say, its gauges in
    `metrics` when given. Says once in the log where the database is and how it is reached."""
    options = pool_options(target, settings)
    for notice in target.notices:
        logger.info("%s", notice)
    logger.info(
        "Database: %s, %s",
        target.location(),
        "pooled mode (through a transaction pooler: no statement cache, statement timeout "
        "enforced by the client)"
        if options.pooled
        else "direct connections",
    )
    return Database(
        options.connect_kwargs,
        max_size=settings.db_pool_size,
        acquire_timeout=settings.db_pool_timeout,
        connect_budget=settings.db_connect_timeout,
        statement_cache_size=options.statement_cache_size,
        cancel_grace=cancel_grace(settings.db_statement_timeout),
        metrics=metrics,
    )
