"""Outages of a real PostgreSQL: the API starts without it, fails fast with 503 while it
is gone, and recovers on its own when it is back, without a restart and without leaking
pooled connections.

These tests own their server (tests/local_postgres.py) on a loopback TCP port, so they
can stop and start it without disturbing the rest of the suite.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings, url_string
from tests.helpers import assert_error, todo_url, todos_url
from tests.load import Load, take_away_under
from tests.local_postgres import LocalPostgres, migrated_local_postgres
from tests.processes import ApiProcess, command_env
from todo_api.main import create_app

PASSWORD = "Outage-pa55word"  # the server trusts loopback; the password must still never show
# Short limits, so that "fails fast" is measurable.
POOL_SIZE = 4
POOL_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
STATEMENT_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with migrated_local_postgres(tmp_path_factory.mktemp("outage")) as postgres:
        yield postgres


@pytest.fixture
def url(server: LocalPostgres) -> Iterator[str]:
    """DATABASE_URL for the server, which is running again after each test."""
    yield url_string(server.url().set(password=PASSWORD))
    if not server.running:
        server.start()


async def _serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _app(url: str) -> FastAPI:
    return create_app(
        make_settings(
            url,
            db_pool_size=POOL_SIZE,
            db_pool_timeout=POOL_TIMEOUT,
            db_connect_timeout=CONNECT_TIMEOUT,
            db_statement_timeout=STATEMENT_TIMEOUT,
        )
    )


def _assert_unavailable(response: httpx.Response) -> None:
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response.headers["retry-after"]) > 0


async def test_the_api_starts_while_the_database_is_down_and_recovers_without_a_restart(
    server: LocalPostgres, url: str
) -> None:
    server.stop()
    app = _app(url)

    async for client in _serve(app):
        assert (await client.get("/health")).json() == {"status": "ok"}
        _assert_unavailable(await client.get("/health/ready"))
        _assert_unavailable(await client.get(todos_url("alice")))
        _assert_unavailable(await client.post(todos_url("alice"), json={"title": "t"}))
        _assert_unavailable(
            await client.delete(todo_url("alice", "0" * 8 + "-0000-4000-8000-" + "0" * 12))
        )

        server.start()

        assert (await client.get("/health/ready")).json() == {"status": "ready"}
        created = await client.post(todos_url("alice"), json={"title": "after the outage"})
        assert created.status_code == 201
        listed = await client.get(todos_url("alice"))
        assert created.json() in listed.json()["items"]


@pytest.mark.parametrize("stop_mode", ["fast", "immediate"], ids=["shutdown", "crash"])
async def test_an_outage_under_load_fails_fast_with_503_and_recovers_within_5_seconds(
    server: LocalPostgres, url: str, stop_mode: str
) -> None:
    app = _app(url)
    async for client in _serve(app):
        load = Load(client, workers=POOL_SIZE * 3)  # more clients than pooled connections
        # Longer than a refused connect is tried again (CONNECT_TIMEOUT) plus the pool
        # wait, so that requests start, and fail, while it is gone.
        outage = await take_away_under(
            load,
            app.state.database.pool,
            stop=lambda: server.stop(stop_mode),
            start=server.start,
            seconds=CONNECT_TIMEOUT + POOL_TIMEOUT + 1,
        )

    # Failing fast: no request waited longer than the pool wait (which includes
    # connecting, and trying a refused connect again) plus one statement.
    outage.check(slowest_allowed=POOL_TIMEOUT + STATEMENT_TIMEOUT + 0.5)
    # No connection leaked: every one the pool held went back to it, idle.
    assert 0 < outage.pool_size <= POOL_SIZE
    assert outage.pool_idle == outage.pool_size


async def test_make_run_with_an_unreachable_database_says_so_serves_anyway_and_recovers(
    server: LocalPostgres, url: str, tmp_path: Path
) -> None:
    server.stop()
    env = command_env(DATABASE_URL=url, DB_CONNECT_TIMEOUT="2")

    with ApiProcess("run", env, tmp_path) as api:
        await asyncio.to_thread(api.wait_until_live)
        async with httpx.AsyncClient(base_url=api.base_url) as client:
            _assert_unavailable(await client.get("/health/ready"))
            _assert_unavailable(await client.get(todos_url("alice")))

            server.start()  # (its schema is already at the head: ready without a migrate)

            assert (await client.get("/health/ready")).status_code == 200
            assert (await client.post(todos_url("alice"), json={"title": "t"})).status_code == 201
        assert api.stop() in {0, 143}

    output = api.output
    assert (
        f"Cannot migrate: could not connect to database 'postgres' on 127.0.0.1:{server.port}"
        in (output)
    )
    assert "Serving anyway" in output
    assert "Traceback" not in output
    assert PASSWORD not in output
