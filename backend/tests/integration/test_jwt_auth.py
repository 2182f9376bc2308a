"""JWT bearer auth on the real app and database: a token acts only for its own user, and
todos stay 404 between users exactly as without auth. RS256 tokens from a key the test
generates, served by a real JWKS endpoint (tests/jwks_server.py); the API key, set too,
is a trusted service acting for any user."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import StatementLog, make_settings
from tests.helpers import assert_error, todo_url, todos_url
from tests.jwks_server import JwksServer, SigningKey, claims, jwks_server, new_key
from tests.statements import observing, recording_database
from todo_api.main import create_app

API_KEY = "integration-key-0123456789"


@pytest.fixture(scope="module")
def provider() -> Iterator[JwksServer]:
    with jwks_server(new_key("RS256")) as server:
        yield server


@pytest.fixture
async def authed(
    app_database_url: str, provider: JwksServer, sql_audit: StatementLog
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        app_database_url, auth_jwks_url=provider.url, api_key=SecretStr(API_KEY)
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        recording_database(app, settings),
        observing(sql_audit.record),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


def as_user(key: SigningKey, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.sign(claims(user))}"}


async def test_a_user_works_on_their_own_todos_with_their_token(
    authed: httpx.AsyncClient, provider: JwksServer
) -> None:
    alice = as_user(provider.keys[0], "alice")

    created = await authed.post(todos_url("alice"), json={"title": "Buy milk"}, headers=alice)
    assert created.status_code == 201
    todo = created.json()
    fetched = await authed.get(todo_url("alice", todo["id"]), headers=alice)
    listed = await authed.get(todos_url("alice"), headers=alice)

    assert fetched.json() == todo
    assert listed.json()["count"] == 1


async def test_another_users_todo_stays_404_through_their_own_path(
    authed: httpx.AsyncClient, provider: JwksServer
) -> None:
    key = provider.keys[0]
    created = await authed.post(
        todos_url("alice"), json={"title": "mine"}, headers=as_user(key, "alice")
    )
    alice_todo = created.json()
    bob = as_user(key, "bob")

    for method in ("GET", "PATCH", "DELETE"):
        body = {"title": "stolen"} if method == "PATCH" else None
        response = await authed.request(
            method, todo_url("bob", alice_todo["id"]), json=body, headers=bob
        )
        assert_error(response, 404, "NOT_FOUND")
    fetched = await authed.get(todo_url("alice", alice_todo["id"]), headers=as_user(key, "alice"))
    assert fetched.json() == alice_todo


async def test_a_token_on_another_users_path_is_a_403_and_changes_nothing(
    authed: httpx.AsyncClient, provider: JwksServer
) -> None:
    key = provider.keys[0]
    alice = as_user(key, "alice")
    alice_todo = (await authed.post(todos_url("alice"), json={"title": "a"}, headers=alice)).json()
    bob = as_user(key, "bob")

    attempts = [
        await authed.get(todos_url("alice"), headers=bob),
        await authed.post(todos_url("alice"), json={"title": "planted"}, headers=bob),
        await authed.delete(todo_url("alice", alice_todo["id"]), headers=bob),
    ]

    for response in attempts:
        assert_error(response, 403, "FORBIDDEN")
    listed = (await authed.get(todos_url("alice"), headers=alice)).json()
    assert [item["title"] for item in listed["items"]] == ["a"]


async def test_without_a_token_nothing_is_read_or_written(
    authed: httpx.AsyncClient, provider: JwksServer
) -> None:
    refused = await authed.post(todos_url("alice"), json={"title": "anonymous"})

    assert_error(refused, 401, "UNAUTHORIZED")
    assert refused.headers["www-authenticate"] == 'Bearer realm="todo-api"'
    listed = await authed.get(todos_url("alice"), headers=as_user(provider.keys[0], "alice"))
    assert listed.json()["count"] == 0


async def test_the_api_key_acts_for_any_user(
    authed: httpx.AsyncClient, provider: JwksServer
) -> None:
    service = {"X-API-Key": API_KEY}

    created = await authed.post(todos_url("carol"), json={"title": "from a job"}, headers=service)
    assert created.status_code == 201
    seen_by_carol = await authed.get(
        todo_url("carol", created.json()["id"]), headers=as_user(provider.keys[0], "carol")
    )
    assert seen_by_carol.json() == created.json()
    assert (await authed.get(todos_url("dave"), headers=service)).json()["count"] == 0
