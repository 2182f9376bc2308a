"""A statement is sent again only when that cannot apply a write twice: a read, or a write
asyncpg provably never sent for execution.

asyncpg raises `InternalClientError` when its conversation with the server is out of step,
before a statement is sent (the server said goodbye on an idle connection whose close has
not arrived yet, so the next statement cannot start) or after (a reply it cannot read,
once the statement has run). Both are produced here for real, by a TCP proxy between the
app and a PostgreSQL of these tests' own: nothing in the driver or the app is patched.
Rows are counted on the server itself.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, delete, func, select, update

from tests.conftest import make_settings, url_string
from tests.helpers import assert_error, create_todo, todo_url, todos_url
from tests.local_postgres import LocalPostgres, migrated_local_postgres
from tests.tcp_proxy import TcpProxy
from todo_api.db.database import APPLICATION_NAME, Query
from todo_api.db.url import parse_database_url
from todo_api.main import create_app
from todo_api.services.todo_columns import TODOS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with migrated_local_postgres(tmp_path_factory.mktemp("resend")) as postgres:
        yield postgres


@pytest.fixture
async def proxy(server: LocalPostgres) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", server.port).running() as running:
        yield running


@pytest.fixture
async def admin(server: LocalPostgres) -> AsyncIterator[asyncpg.Connection]:
    """A connection straight to the server, past the proxy, for counting rows."""
    target = parse_database_url(url_string(server.url()))
    connection = await asyncpg.connect(**target.connect_kwargs)
    yield connection
    await connection.close()


async def _serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _app(proxy: TcpProxy, server: LocalPostgres) -> FastAPI:
    """One pooled connection, so the connection the proxy acts on is the one used next."""
    url = url_string(server.url().set(port=proxy.port))
    return create_app(make_settings(url, db_pool_size=1))


async def _titled(admin: asyncpg.Connection, user: str, title: str) -> int:
    count = await admin.fetchval(
        "SELECT count(*) FROM todos WHERE user_id = $1 AND title = $2", user, title
    )
    return int(count)


async def test_a_write_whose_reply_cannot_be_read_is_sent_once_and_a_503(
    proxy: TcpProxy, server: LocalPostgres, admin: asyncpg.Connection
) -> None:
    """The INSERT runs and commits; its reply arrives garbled, and asyncpg raises
    ProtocolError (an InternalClientError) after the statement reached the server.
    Sending it again would create the todo twice: the client gets a 503 instead."""
    user = f"resend-{uuid.uuid4().hex[:8]}"
    async for client in _serve(_app(proxy, server)):
        await create_todo(client, user, title="warm")  # the connection and its statements
        proxy.garble_next_reply(b"exactly once")

        response = await client.post(todos_url(user), json={"title": "exactly once"})

        assert proxy.garbled == 1
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert await _titled(admin, user, "exactly once") == 1
        # The broken connection was not lent again: the next request is served.
        listed = await client.get(todos_url(user))
        assert listed.status_code == 200
        assert [todo["title"] for todo in listed.json()["items"]].count("exactly once") == 1


async def test_a_read_whose_reply_cannot_be_read_is_sent_again_transparently(
    proxy: TcpProxy, server: LocalPostgres
) -> None:
    user = f"resend-{uuid.uuid4().hex[:8]}"
    async for client in _serve(_app(proxy, server)):
        todo = await create_todo(client, user, title="read me")
        assert (await client.get(todo_url(user, todo["id"]))).status_code == 200  # warm
        proxy.garble_next_reply(b"read me")

        response = await client.get(todo_url(user, todo["id"]))

        assert proxy.garbled == 1
        assert response.status_code == 200
        assert response.json() == todo


async def test_a_write_the_driver_refused_to_send_is_sent_on_a_fresh_connection(
    proxy: TcpProxy, server: LocalPostgres, admin: asyncpg.Connection
) -> None:
    """The server ends the app's idle session (as a shutdown does): its FATAL reaches the
    driver, the close does not (the proxy keeps the app's side open). The connection still
    looks open, and the next statement fails in asyncpg before anything is sent, which
    asyncpg's count of executed statements proves: the write goes again, once."""
    user = f"resend-{uuid.uuid4().hex[:8]}"
    app = _app(proxy, server)
    async for client in _serve(app):
        await create_todo(client, user, title="warm")
        proxy.keep_clients_open = True
        pids = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", APPLICATION_NAME
        )
        assert len(pids) == 1
        await admin.execute("SELECT pg_terminate_backend($1)", pids[0]["pid"])
        await asyncio.sleep(0.2)  # the FATAL reaches the driver; the close never does
        pool = app.state.database.pool
        assert pool.get_idle_size() == 1, "the dead connection still looks open to the pool"

        response = await client.post(todos_url(user), json={"title": "after the goodbye"})

        assert response.status_code == 201, response.text
        assert await _titled(admin, user, "after the goodbye") == 1


def test_a_select_that_writes_in_a_cte_is_not_read_only() -> None:
    """`WITH gone AS (DELETE ...) SELECT count(*) FROM gone` is a SELECT to SQLAlchemy and
    a write to the database: never sent twice."""
    table = TODOS
    mine = table.c.user_id == bindparam("user_id")
    gone = delete(table).where(mine).returning(table.c.id).cte("gone")
    renamed = update(table).where(mine).values(title=bindparam("title"))
    changed = renamed.returning(table.c.id).cte("changed")

    assert Query.compile(select(table.c.id).where(mine)).read_only
    assert Query.compile(select(table.c.id).where(mine).with_for_update()).read_only
    assert not Query.compile(select(func.count()).select_from(gone)).read_only
    assert not Query.compile(select(func.count()).select_from(changed)).read_only
    assert not Query.compile(delete(table).where(mine)).read_only
