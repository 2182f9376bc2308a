"""Neon's computes scale to zero: a suspended one drops its connections, and the first
connection after a quiet spell waits, or is refused, while it wakes. Through a real TCP
proxy in front of a PostgreSQL, the service waits for it within
DB_CONNECT_TIMEOUT instead of failing the first request."""

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings, url_string
from tests.helpers import assert_error, create_todo, todo_url, todos_url
from tests.local_postgres import LocalPostgres, migrated_local_postgres
from tests.tcp_proxy import TcpProxy
from todo_api.main import create_app

CONNECT_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A PostgreSQL of these tests' own on a loopback TCP port (the suite's embedded one
    listens on a Unix socket), migrated."""
    with migrated_local_postgres(tmp_path_factory.mktemp("cold-starts")) as postgres:
        yield postgres


@pytest.fixture
async def proxy(server: LocalPostgres) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", server.port).running() as running:
        yield running


def _through(proxy: TcpProxy, server: LocalPostgres) -> str:
    return url_string(server.url().set(port=proxy.port))


async def _serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _app(url: str, **settings: object) -> FastAPI:
    return create_app(make_settings(url, db_connect_timeout=CONNECT_TIMEOUT, **settings))


async def test_the_first_request_while_the_compute_wakes_up_succeeds(
    proxy: TcpProxy, server: LocalPostgres
) -> None:
    """New connections refused for 2 s, then forwarded: the first request retries its
    connect with backoff within DB_CONNECT_TIMEOUT, and succeeds."""
    async for client in _serve(_app(_through(proxy, server))):
        proxy.refuse_for(2.0)
        started = time.monotonic()
        response = await client.post(todos_url("sleepy"), json={"title": "after a quiet spell"})
        elapsed = time.monotonic() - started

    assert response.status_code == 201, response.text
    assert proxy.refused >= 2, "the connect was refused, then tried again"
    assert elapsed < CONNECT_TIMEOUT


async def test_after_a_suspend_drops_every_connection_the_next_requests_succeed(
    proxy: TcpProxy, server: LocalPostgres
) -> None:
    async for client in _serve(_app(_through(proxy, server))):
        todo = await create_todo(client, "sleepy", title="before the suspend")
        proxy.drop_all()
        await asyncio.sleep(0.1)  # the sockets' close reaches the driver

        responses = [
            await client.get(todo_url("sleepy", todo["id"])),
            await client.patch(todo_url("sleepy", todo["id"]), json={"title": "after"}),
            await client.get(todos_url("sleepy")),
        ]

    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]


async def test_a_compute_that_never_comes_back_is_a_503_within_the_connect_timeout(
    proxy: TcpProxy, server: LocalPostgres
) -> None:
    async for client in _serve(_app(_through(proxy, server), db_pool_timeout=10)):
        proxy.refuse_for(math.inf)
        started = time.monotonic()
        response = await client.get(todos_url("sleepy"))
        elapsed = time.monotonic() - started

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response.headers["retry-after"]) > 0
    assert CONNECT_TIMEOUT - 0.5 <= elapsed <= CONNECT_TIMEOUT + 2, elapsed
