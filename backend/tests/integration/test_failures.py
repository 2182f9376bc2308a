"""What clients see when things go wrong: outages, bugs, and request ids."""

import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DatabaseFactory, make_settings
from tests.helpers import assert_error, create_todo, todos_url
from todo_api.main import create_app

PASSWORD = "s3cret-Pa55word"


def _closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@pytest.fixture
async def unreachable_client() -> AsyncIterator[httpx.AsyncClient]:
    """The app configured for a database that refuses connections."""
    url = f"postgresql://todo:{PASSWORD}@127.0.0.1:{_closed_port()}/todo"
    async for client in _client_for(create_app(make_settings(url, db_connect_timeout=2))):
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/users/alice/todos", None),
        ("POST", "/api/v1/users/alice/todos", {"title": "t"}),
        ("GET", "/api/v1/users/alice/todos/00000000-0000-4000-8000-000000000000", None),
        ("DELETE", "/api/v1/users/alice/todos/00000000-0000-4000-8000-000000000000", None),
        ("GET", "/health/ready", None),
    ],
)
async def test_an_unreachable_database_is_a_503_with_retry_after(
    unreachable_client: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await unreachable_client.request(method, path, json=body)

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert int(response.headers["retry-after"]) > 0


async def test_liveness_does_not_depend_on_the_database(
    unreachable_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_input_is_validated_before_the_database_is_needed(
    unreachable_client: httpx.AsyncClient,
) -> None:
    response = await unreachable_client.post(todos_url("alice"), json={"title": ""})

    assert_error(response, 422, "VALIDATION_ERROR")


async def test_the_password_appears_in_no_response_and_no_log(
    unreachable_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    responses = [
        await unreachable_client.get(todos_url("alice")),
        await unreachable_client.get("/health/ready"),
    ]

    assert all(PASSWORD not in response.text for response in responses)
    assert PASSWORD not in caplog.text
    assert "Database unavailable" in caplog.text


async def test_a_database_without_the_schema_is_not_ready(databases: DatabaseFactory) -> None:
    empty: URL = await databases.create(migrated=False)

    async for client in _client_for(create_app(make_settings(empty))):
        assert_error(await client.get("/health/ready"), 503, "DATABASE_NOT_MIGRATED")
        assert (await client.get("/health")).status_code == 200


async def test_a_migrated_database_is_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_an_unexpected_error_is_a_500_without_internals(
    database_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(make_settings(database_url))

    @app.get("/api/v1/broken")
    async def broken() -> None:
        raise RuntimeError("internal detail: table todos, secret=42")

    async for client in _client_for(app):
        response = await client.get("/api/v1/broken")

    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert set(body) == {"type", "title", "status", "detail", "error_code"}
    assert "internal detail: table todos, secret=42" in caplog.text
    assert response.headers["x-request-id"]


async def test_an_unexpected_error_is_logged_once_by_route_and_request_id_only(
    database_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    """One record with the traceback, naming the route's template and the request id,
    never the path's values; and nothing raised on to the server, which would log the
    traceback a second time ("Exception in ASGI application")."""
    app = create_app(make_settings(database_url))

    @app.get("/api/v1/users/{user_id}/broken")
    async def broken(user_id: str) -> None:
        raise RuntimeError("boom")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/api/v1/users/secret-user-42/broken")

    assert_error(response, 500, "INTERNAL_ERROR")
    with_traceback = [record for record in caplog.records if record.exc_info]
    assert len(with_traceback) == 1, [record.getMessage() for record in with_traceback]
    message = with_traceback[0].getMessage()
    assert "/api/v1/users/{user_id}/broken" in message
    assert response.headers["x-request-id"] in message
    assert "secret-user-42" not in caplog.text


async def test_every_response_carries_a_generated_request_id(client: httpx.AsyncClient) -> None:
    responses = [
        await client.get("/health"),
        await client.get(todos_url("alice")),
        await client.get("/nowhere"),
        await client.post(todos_url("alice"), json={}),
    ]

    ids = [response.headers["x-request-id"] for response in responses]
    assert all(len(request_id) == 32 for request_id in ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("incoming", "echoed"),
    [("abc-123", True), ("trace:1.2/3+4=", True), ("x" * 129, False), ("has space", False)],
)
async def test_a_sane_incoming_request_id_is_echoed(
    client: httpx.AsyncClient, incoming: str, echoed: bool
) -> None:
    response = await client.get("/health", headers={"x-request-id": incoming})

    assert (response.headers["x-request-id"] == incoming) is echoed


async def test_request_ids_are_returned_on_errors_too(client: httpx.AsyncClient) -> None:
    await create_todo(client, "alice")

    response = await client.get("/api/v1/users/alice/todos/nope", headers={"x-request-id": "r1"})

    assert response.status_code == 422
    assert response.headers["x-request-id"] == "r1"


async def test_a_never_migrated_database_is_a_503_that_says_so(
    databases: DatabaseFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A server started while the database was down, and never migrated after: every
    call must be a 503 the operator can act on, not a 500."""
    empty: URL = await databases.create(migrated=False)

    async for client in _client_for(create_app(make_settings(empty))):
        listed = await client.get(todos_url("alice"))
        created = await client.post(todos_url("alice"), json={"title": "t"})
        ready = await client.get("/health/ready")

    for response in (listed, created, ready):
        body = assert_error(response, 503, "DATABASE_NOT_MIGRATED")
        assert response.headers["retry-after"]
        assert "todo-api migrate" in body["detail"]
    assert "todo-api migrate" in caplog.text


async def test_a_read_only_database_refuses_writes_with_a_503_and_is_not_ready(
    databases: DatabaseFactory, admin_engine: AsyncEngine
) -> None:
    """A standby after a failover (SQLSTATE 25006) answers reads and refuses writes."""
    url: URL = await databases.create(migrated=True)
    async with admin_engine.connect() as connection:
        await connection.execute(
            text(f'ALTER DATABASE "{url.database}" SET default_transaction_read_only = on')
        )

    async for client in _client_for(create_app(make_settings(url))):
        listed = await client.get(todos_url("alice"))
        created = await client.post(todos_url("alice"), json={"title": "t"})
        ready = await client.get("/health/ready")

    assert listed.status_code == 200
    assert_error(created, 503, "DATABASE_READ_ONLY")
    assert_error(ready, 503, "DATABASE_READ_ONLY")
