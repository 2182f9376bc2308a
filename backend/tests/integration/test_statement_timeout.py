"""A statement that outlives DB_STATEMENT_TIMEOUT on a server that stopped answering (a
PostgreSQL of these tests' own, frozen with SIGSTOP, postmaster and backends alike, as a
compute that hangs) is answered 503 within the timeout plus the cancel grace.

asyncpg cancels a timed-out statement with a cancel request, and its connection cannot be
used again until the server acknowledges it. A frozen server never does, and asyncpg
would give up only after another DB_STATEMENT_TIMEOUT: the answer came after twice the
timeout, the pool held all that while. The wait for the acknowledgement is bounded by the
grace, after which the connection is terminated; the pool makes new ones once the server
answers again. That the cancel really stops the statement behind PgBouncer is checked in
tests/external/test_pgbouncer.py.
"""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings, url_string
from tests.helpers import assert_error, todos_url
from tests.local_postgres import LocalPostgres, migrated_local_postgres
from todo_api.db.database import Query, cancel_grace, create_database
from todo_api.db.url import parse_database_url
from todo_api.main import create_app
from todo_api.settings import Settings

STATEMENT_TIMEOUT = 2.0
GRACE = cancel_grace(STATEMENT_TIMEOUT)
CONNECT_TIMEOUT = 1.0
POOL_SIZE = 4
SLACK = 0.5  # scheduling on top of the limits
_ONE = Query(sql="SELECT 1 AS one", parameters=(), read_only=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with migrated_local_postgres(tmp_path_factory.mktemp("statement-timeout")) as postgres:
        yield postgres


def _server_processes(server: LocalPostgres) -> list[int]:
    """The postmaster and every process it started (the backends among them)."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:  # the process ended meanwhile
            continue
        if fields.get("PPid", "").strip() == str(postmaster):
            children.append(int(status.parent.name))
    return [postmaster, *children]


def _freeze(server: LocalPostgres) -> list[int]:
    """Stop the whole server (SIGSTOP): connections stay open and nothing answers; new
    TCP connections are accepted by the kernel and never served. Returns what to thaw."""
    processes = _server_processes(server)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    return processes


def _thaw(processes: list[int]) -> None:
    for pid in processes:
        os.kill(pid, signal.SIGCONT)


@contextmanager
def _frozen(server: LocalPostgres) -> Iterator[None]:
    processes = _freeze(server)
    try:
        yield
    finally:
        _thaw(processes)


async def _serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path)
    return response, time.monotonic() - started


def _settings(server: LocalPostgres) -> Settings:
    return make_settings(
        url_string(server.url()),
        db_pool_size=POOL_SIZE,
        db_pool_timeout=10.0,
        db_connect_timeout=CONNECT_TIMEOUT,
        db_statement_timeout=STATEMENT_TIMEOUT,
    )


async def test_a_frozen_database_answers_503_within_the_timeout_and_the_grace(
    server: LocalPostgres,
) -> None:
    """Twice as many requests as connections: those holding one answer within
    DB_STATEMENT_TIMEOUT plus the grace (2 + 1 s; they took 4 s before), and those
    queued behind them get their turn then, and a 503 once connecting times out."""
    app = create_app(_settings(server))
    async for client in _serve(app):
        warm = await asyncio.gather(*(client.get(todos_url(f"u{n}")) for n in range(POOL_SIZE)))
        assert {response.status_code for response in warm} == {200}
        assert app.state.database.pool.get_size() == POOL_SIZE

        with _frozen(server):
            answers = await asyncio.gather(
                *(_timed_get(client, todos_url(f"u{n}")) for n in range(2 * POOL_SIZE))
            )

        for response, _ in answers:
            assert_error(response, 503, "SERVICE_UNAVAILABLE")
        times = sorted(elapsed for _, elapsed in answers)
        holding, queued = times[:POOL_SIZE], times[POOL_SIZE:]
        assert max(holding) < STATEMENT_TIMEOUT + GRACE + SLACK, f"answered after {holding}"
        assert min(holding) >= STATEMENT_TIMEOUT - 0.05
        assert max(queued) < STATEMENT_TIMEOUT + GRACE + CONNECT_TIMEOUT + SLACK, queued

        # The server answers again: so does the app, on new connections.
        after = await client.get(todos_url("u0"))
        assert after.status_code == 200, "the pool recovers once the server answers again"
        pool = app.state.database.pool
        assert pool.get_idle_size() == pool.get_size() > 0


async def test_a_statement_in_a_transaction_on_a_frozen_database_fails_within_the_grace(
    server: LocalPostgres,
) -> None:
    """`Database.transaction()`: the statement times out, and the rollback (which asyncpg
    would send only once the cancel is acknowledged) is bounded by the grace; the
    connection is terminated and the TimeoutError (a 503) raised. Before, the rollback
    waited another DB_STATEMENT_TIMEOUT."""
    settings = _settings(server)
    database = create_database(parse_database_url(url_string(server.url())), settings)
    await database.open()
    frozen: list[int] = []
    started = 0.0
    try:
        with pytest.raises(TimeoutError):  # noqa: PT012  (the whole block is the case)
            async with database.transaction() as transaction:
                assert (await transaction.fetch_one(_ONE)) is not None  # BEGIN answered
                frozen = _freeze(server)
                started = time.monotonic()
                await transaction.fetch_one(_ONE)
        elapsed = time.monotonic() - started
        assert STATEMENT_TIMEOUT - 0.05 <= elapsed < STATEMENT_TIMEOUT + GRACE + SLACK, elapsed
        assert database.pool.get_idle_size() == database.pool.get_size() == 0  # terminated
        _thaw(frozen)
        frozen = []

        async with database.transaction() as transaction:
            assert (await transaction.fetch_one(_ONE)) is not None
        assert database.pool.get_idle_size() == database.pool.get_size() == 1
    finally:
        _thaw(frozen)
        await database.close()
