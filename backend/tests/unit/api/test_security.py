"""The API key (api/security.py): with API_KEY set, every /api request must carry it, and
it is checked before anything reads the body. On the app built without a database, or on
the middleware alone."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send

from tests.helpers import PROBLEM_JSON, problem
from tests.unit.asgi import RecordingApp, call_raw, client_for, discard, receive_nothing
from todo_api.api.security import ApiKeyMiddleware, is_protected
from todo_api.main import create_app
from todo_api.settings import Settings

API_KEY = "unit-test-key-0123456789"
# Answers without touching the database: no route, so a 404 once past the API key.
NO_DATABASE_NEEDED = "/api/v1/nowhere"


def keyed_app(**overrides: object) -> FastAPI:
    return create_app(
        Settings(_env_file=None, database_url=None, api_key=SecretStr(API_KEY), **overrides)
    )


@pytest.fixture
async def keyed_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(keyed_app()) as client:
        yield client


# --- API key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong-key-0123456789"}, id="wrong-bearer"),
        pytest.param({"X-API-Key": "wrong-key-0123456789"}, id="wrong-header"),
        pytest.param({"Authorization": f"Basic {API_KEY}"}, id="other-scheme"),
        pytest.param({"Authorization": API_KEY}, id="no-scheme"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
        pytest.param({"X-API-Key": API_KEY[:-1]}, id="prefix"),
        pytest.param({"X-API-Key": API_KEY + "x"}, id="longer"),
        pytest.param({"X-API-Key": API_KEY.upper()}, id="other-case"),
    ],
)
async def test_an_api_request_without_the_key_is_a_401(
    keyed_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await keyed_client.get(NO_DATABASE_NEEDED, headers=headers)

    assert response.status_code == 401
    assert response.json() == problem(
        401,
        "UNAUTHORIZED",
        "Send the API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    )
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "x-request-id" in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": f"Bearer {API_KEY}"}, id="bearer"),
        pytest.param({"Authorization": f"bearer {API_KEY}"}, id="bearer-lower-case"),
        pytest.param({"Authorization": f"  Bearer   {API_KEY}  "}, id="bearer-spaces"),
        pytest.param({"X-API-Key": API_KEY}, id="x-api-key"),
        pytest.param(
            {"Authorization": "Bearer wrong-key-0123456789", "X-API-Key": API_KEY},
            id="one-of-two",
        ),
    ],
)
async def test_an_api_request_with_the_key_goes_through(
    keyed_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await keyed_client.get(NO_DATABASE_NEEDED, headers=headers)

    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/health", "/docs", "/redoc", "/openapi.json", "/apix"])
async def test_health_docs_and_the_document_stay_open(
    keyed_client: httpx.AsyncClient, path: str
) -> None:
    response = await keyed_client.get(path)

    assert response.status_code in (200, 404)
    assert response.status_code != 401


async def test_the_key_is_checked_before_the_body_is_read() -> None:
    inner = RecordingApp()
    response = await call_raw(
        ApiKeyMiddleware(inner, API_KEY),
        method="POST",
        headers=[(b"content-length", str(10 * 1024 * 1024).encode())],
    )

    # call_raw's path is "/", which is open; the same request to /api is refused unread.
    assert response.status == 200

    scope_path = "/api/v1/users/a/todos"
    messages: list[dict[str, object]] = []
    received = 0

    async def receive() -> dict[str, object]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        messages.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": scope_path, "headers": []}
    await ApiKeyMiddleware(inner, API_KEY)(scope, receive, send)  # type: ignore[arg-type]

    assert messages[0]["status"] == 401
    assert received == 0
    assert [s["path"] for s in inner.scopes] == ["/"]


@pytest.mark.parametrize(
    ("path", "root_path", "protected"),
    [
        ("/api", "", True),
        ("/api/v1/users/a/todos", "", True),
        ("/apis", "", False),
        ("/health", "", False),
        ("/prefix/api/v1/x", "/prefix", True),
        ("/prefix/health", "/prefix", False),
        # A root path that is a prefix of the path's text but not a segment of it is not
        # stripped: mounted at "/a", "/api/v1/..." is still an /api path.
        ("/api/v1/users/a/todos", "/a", True),
        ("/apiv1/x", "/api", False),
        ("/api", "/api", False),
    ],
)
def test_which_paths_need_the_key(path: str, root_path: str, *, protected: bool) -> None:
    assert is_protected({"path": path, "root_path": root_path}) is protected


async def test_other_scopes_pass_through_the_key_check() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(scope["type"])

    await ApiKeyMiddleware(inner, API_KEY)({"type": "lifespan"}, receive_nothing, discard)  # type: ignore[arg-type]

    assert seen == ["lifespan"]


def test_without_a_key_setting_no_key_is_asked_for() -> None:
    app = create_app(Settings(_env_file=None, database_url=None))

    assert not any(m.cls is ApiKeyMiddleware for m in app.user_middleware)


@pytest.mark.parametrize("path", ["/api/v1/users/../todos", "/api/v1/users/%2e%2e/todos"])
async def test_with_a_key_configured_a_dot_segment_is_401_without_it_and_404_with_it(
    keyed_client: httpx.AsyncClient, path: str
) -> None:
    """As specs/api.md orders the checks: the key first, so a caller without it learns
    nothing about paths, then the dot segment (a path no route serves)."""
    without = await keyed_client.get(path)
    with_key = await keyed_client.get(path, headers={"X-API-Key": API_KEY})

    assert (without.status_code, without.json()["error_code"]) == (401, "UNAUTHORIZED")
    assert (with_key.status_code, with_key.json()["error_code"]) == (404, "NOT_FOUND")
