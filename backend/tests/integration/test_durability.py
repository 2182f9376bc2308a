"""No lost or half-written data, and limits that hold: concurrent writers on one row,
connections the server drops, statement, pool and connect timeouts, and the API process
killed or stopped under load.

Everything here reaches the suite's database the way the app under test does
(`app_database_url`), so `make test-external` runs it again through PgBouncer and over SSL.
"""

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings, url_string
from tests.helpers import assert_error, create_todo, todo_url, todos_url
from tests.processes import ApiProcess, command_env
from todo_api.db.database import APPLICATION_NAME
from todo_api.db.url import parse_database_url
from todo_api.main import create_app

SLACK = 0.75  # scheduling and round trips on top of a configured limit


async def _client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def row_locked(database_url: URL, todo_id: str) -> AsyncIterator[None]:
    """Holds a lock on the todo's row, from a session of its own, until the block ends:
    the app's writes to that row wait on it."""
    target = parse_database_url(url_string(database_url))
    connection = await asyncpg.connect(**target.connect_kwargs)
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT 1 FROM todos WHERE id = $1 FOR UPDATE", uuid.UUID(todo_id)
            )
            yield
    finally:
        await connection.close()


async def _waiting_on_a_lock(admin_engine: AsyncEngine) -> bool:
    async with admin_engine.connect() as connection:
        waiting = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


# --- Concurrent writers on one row --------------------------------------------------------


async def test_50_concurrent_patches_on_one_todo_all_succeed_and_leave_one_whole_write(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="start")
    url = todo_url("alice", todo["id"])
    writes = [
        {"title": f"title {i}", "description": f"description {i}", "is_completed": i % 2 == 0}
        for i in range(50)
    ]
    seen: list[str] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append((await client.get(url)).json()["updated_at"])

    watcher = asyncio.create_task(watch())
    responses = await asyncio.gather(*(client.patch(url, json=write) for write in writes))
    done.set()
    await watcher
    final = (await client.get(url)).json()

    assert [response.status_code for response in responses] == [200] * 50
    bodies = [response.json() for response in responses]
    for write, body in zip(writes, bodies, strict=True):
        assert {name: body[name] for name in write} == write  # each saw its own whole write
    # The final row is one of the writes, whole: the last one applied.
    last = max(bodies, key=lambda body: body["updated_at"])
    assert final == last
    assert {name: final[name] for name in writes[0]} in writes
    # updated_at never goes backwards: not between writes, not as seen by a reader.
    assert len({body["updated_at"] for body in bodies}) == 50
    assert all(body["updated_at"] > todo["updated_at"] for body in bodies)
    assert seen == sorted(seen)


# --- Connections dropped by the server -----------------------------------------------------


async def _app_backends(admin_engine: AsyncEngine) -> set[int]:
    async with admin_engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": APPLICATION_NAME},
        )
        return {row.pid for row in rows}


async def test_connections_the_server_drops_while_idle_are_replaced_without_a_failed_request(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    """As Neon does when a compute scales to zero: every idle connection is closed."""
    todo = await create_todo(client, "alice")
    await asyncio.gather(*(client.get(todos_url("alice")) for _ in range(20)))
    dropped = await _app_backends(admin_engine)
    assert dropped

    async with admin_engine.connect() as connection:
        await connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
            {"pids": sorted(dropped)},
        )

    async def gone() -> bool:
        return not (dropped & await _app_backends(admin_engine))

    await _eventually(gone)
    await asyncio.sleep(0.1)  # the server's goodbye reaches the app's event loop
    url = todo_url("alice", todo["id"])
    responses = await asyncio.gather(
        *(client.get(todos_url("alice")) for _ in range(10)),
        *(client.post(todos_url("alice"), json={"title": f"t{i}"}) for i in range(10)),
        *(client.patch(url, json={"description": f"d{i}"}) for i in range(10)),
        *(client.get(url) for _ in range(10)),
    )

    assert [r.status_code for r in responses] == [200] * 10 + [201] * 10 + [200] * 20
    assert not (dropped & await _app_backends(admin_engine))


# --- Timeouts -------------------------------------------------------------------------------


async def test_a_statement_past_the_statement_timeout_is_cancelled_and_a_503(
    app_database_url: str, database_url: URL, admin_engine: AsyncEngine
) -> None:
    timeout = 0.5
    app = create_app(make_settings(app_database_url, db_statement_timeout=timeout))
    async for client in _client_for(app):
        todo = await create_todo(client, "alice", title="before")
        async with row_locked(database_url, todo["id"]):
            started = time.monotonic()
            response = await client.patch(todo_url("alice", todo["id"]), json={"title": "after"})
            elapsed = time.monotonic() - started

            assert_error(response, 503, "SERVICE_UNAVAILABLE")
            assert timeout - 0.1 <= elapsed <= timeout + SLACK
            # The server stopped waiting too: the UPDATE was cancelled, not left queued.
            assert not await _waiting_on_a_lock(admin_engine)
        await asyncio.sleep(0.2)
        assert (await client.get(todo_url("alice", todo["id"]))).json()["title"] == "before"
        pool = app.state.database.pool
        assert pool.get_idle_size() == pool.get_size()


async def test_waiting_past_the_pool_timeout_is_a_503(
    app_database_url: str, database_url: URL, admin_engine: AsyncEngine
) -> None:
    timeout = 0.3
    app = create_app(
        make_settings(
            app_database_url, db_pool_size=1, db_pool_timeout=timeout, db_statement_timeout=10
        )
    )
    async for client in _client_for(app):
        todo = await create_todo(client, "alice", title="before")
        async with row_locked(database_url, todo["id"]):
            # The pool's only connection waits on the lock...
            blocked = asyncio.create_task(
                client.patch(todo_url("alice", todo["id"]), json={"title": "after"})
            )

            async def waiting() -> bool:
                return await _waiting_on_a_lock(admin_engine)

            await _eventually(waiting)
            # ...so the next request waits for the pool, and gives up.
            started = time.monotonic()
            response = await client.get(todos_url("alice"))
            elapsed = time.monotonic() - started

            assert_error(response, 503, "SERVICE_UNAVAILABLE")
            assert timeout - 0.05 <= elapsed <= timeout + SLACK
        assert (await blocked).json()["title"] == "after"
        pool = app.state.database.pool
        assert pool.get_idle_size() == pool.get_size() == 1


async def test_a_server_that_never_answers_the_connect_is_a_503_after_the_connect_timeout() -> None:
    """A listener that accepts the TCP connection and then says nothing, as a host whose
    PostgreSQL hangs: connecting gives up after DB_CONNECT_TIMEOUT."""
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listener = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    timeout = 0.5
    app = create_app(
        make_settings(
            f"postgresql://todo:secret@127.0.0.1:{port}/todo",
            db_connect_timeout=timeout,
            db_pool_timeout=10,
        )
    )
    try:
        async for client in _client_for(app):
            for path in (todos_url("alice"), "/health/ready"):
                started = time.monotonic()
                response = await client.get(path)
                elapsed = time.monotonic() - started

                assert_error(response, 503, "SERVICE_UNAVAILABLE")
                assert timeout - 0.05 <= elapsed <= timeout + SLACK
            assert held  # it really connected, and was kept waiting
    finally:
        for writer in held:
            writer.close()
        listener.close()
        await listener.wait_closed()


# --- The API process killed or stopped -----------------------------------------------------


async def _create_until_killed(base_url: str, user: str, acknowledged: dict[str, Any]) -> None:
    """POSTs todos until the server goes away; keeps every 201's body."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        step = 0
        while True:
            step += 1
            title = f"{user} #{step}"
            try:
                response = await http.post(
                    todos_url(user), json={"title": title, "description": f"body of {title}"}
                )
            except httpx.TransportError:
                return
            if response.status_code == 201:
                acknowledged[response.json()["id"]] = response.json()


async def test_killing_the_api_under_create_load_loses_no_acknowledged_write(
    app_server_settings: dict[str, str], admin_engine: AsyncEngine, tmp_path: Path
) -> None:
    env = command_env(**app_server_settings)
    users = [f"kill-{n}-{uuid.uuid4().hex[:8]}" for n in range(16)]
    acknowledged: dict[str, Any] = {}

    with ApiProcess("serve", env, tmp_path) as api:
        await asyncio.to_thread(api.wait_until_live)
        writers = [
            asyncio.create_task(_create_until_killed(api.base_url, user, acknowledged))
            for user in users
        ]

        async def enough() -> bool:
            return len(acknowledged) >= 150

        await _eventually(enough)
        api.signal(signal.SIGKILL)  # mid-load: requests in flight, connections open
        assert await asyncio.to_thread(api.wait) == -signal.SIGKILL
        await asyncio.gather(*writers)

    with ApiProcess("serve", env, tmp_path) as api:
        await asyncio.to_thread(api.wait_until_live)
        async with httpx.AsyncClient(base_url=api.base_url) as http:
            for todo in acknowledged.values():
                fetched = await http.get(todo_url(todo["user_id"], todo["id"]))
                assert fetched.status_code == 200
                assert fetched.json() == todo
        api.stop()

    async with admin_engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT title, description, is_completed, created_at = updated_at AS fresh "
                    "FROM todos WHERE user_id = ANY(CAST(:users AS text[]))"
                ),
                {"users": users},
            )
        ).all()
    # Whatever was committed (acknowledged or not) is whole: never a title without its body.
    assert len(rows) >= len(acknowledged)
    assert all(row.description == f"body of {row.title}" for row in rows)
    assert all(not row.is_completed and row.fresh for row in rows)


async def test_sigterm_lets_in_flight_requests_finish_and_closes_the_pool(
    app_server_settings: dict[str, str],
    database_url: URL,
    admin_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    env = command_env(**app_server_settings)

    with ApiProcess("serve", env, tmp_path) as api:
        await asyncio.to_thread(api.wait_until_live)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            created = (await http.post(todos_url("alice"), json={"title": "before"})).json()
            async with row_locked(database_url, created["id"]):
                in_flight = asyncio.create_task(
                    http.patch(todo_url("alice", created["id"]), json={"title": "after"})
                )

                async def waiting() -> bool:
                    return await _waiting_on_a_lock(admin_engine)

                await _eventually(waiting)
                api.signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                assert api.process.poll() is None  # still finishing the request
                with pytest.raises(httpx.ConnectError):  # and taking no new ones
                    await httpx.AsyncClient(base_url=api.base_url).get("/health")
            response = await in_flight
        exit_status = await asyncio.to_thread(api.wait)

    assert response.status_code == 200
    assert response.json()["title"] == "after"
    assert exit_status in {0, 128 + signal.SIGTERM}
    output = api.output
    assert output.index("Database pool closed") < output.index("Application shutdown complete")
