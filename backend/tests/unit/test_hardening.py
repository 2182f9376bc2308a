"""Hardening middleware and settings: the API key, security headers, dot segments, the
request log. All on the app built without a database, or on the middleware alone."""

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError
from starlette.types import Receive, Scope, Send

from tests.unit.asgi import RecordingApp, call_raw, client_for
from todo_api.api.limits import MAX_BODY_BYTES
from todo_api.api.middleware import (
    PathAndBodyChecksMiddleware,
    ResponseHeadersAndLogMiddleware,
    route_template,
)
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
    assert response.json() == {
        "detail": "Send the API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        "error_code": "UNAUTHORIZED",
    }
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
    ],
)
def test_which_paths_need_the_key(path: str, root_path: str, *, protected: bool) -> None:
    assert is_protected({"path": path, "root_path": root_path}) is protected


async def test_other_scopes_pass_through_the_key_check() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, object]:
        return {}

    async def ignore(_message: object) -> None:
        return None

    await ApiKeyMiddleware(inner, API_KEY)({"type": "lifespan"}, nothing, ignore)  # type: ignore[arg-type]

    assert seen == ["lifespan"]


def test_without_a_key_setting_no_key_is_asked_for() -> None:
    app = create_app(Settings(_env_file=None, database_url=None))

    assert not any(m.cls is ApiKeyMiddleware for m in app.user_middleware)


# --- API_KEY setting --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("short", id="too-short"),
        pytest.param("x" * 257, id="too-long"),
        pytest.param("has a space in it here", id="space"),
        pytest.param("clé-0123456789abcdef", id="non-ascii"),
        pytest.param("tab\there-0123456789", id="control"),
    ],
)
def test_an_unusable_api_key_stops_start_up_without_echoing_it(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, api_key=value)

    assert "API_KEY must be 16 to 256 printable ASCII characters" in str(raised.value)
    assert value not in str(raised.value)


def test_an_empty_api_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "")

    assert Settings(_env_file=None).api_key is None


def test_the_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", API_KEY)

    settings = Settings(_env_file=None)

    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(settings)


# --- Security headers -------------------------------------------------------------------

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/nowhere", 404),
        ("PUT", "/api/v1/users/alice/todos", 405),
        ("GET", NO_DATABASE_NEEDED, 404),
        ("GET", "/api/v1/users/alice/todos", 500),  # no database in the unit tests
    ],
)
async def test_every_answer_carries_the_security_headers(
    offline_client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await offline_client.request(method, path)

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == API_POLICY
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "server" not in response.headers


async def test_a_policy_the_app_sets_is_kept() -> None:
    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        del scope, receive
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-security-policy", b"script-src 'self'")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    response = await call_raw(ResponseHeadersAndLogMiddleware(page))

    assert response.headers("content-security-policy") == [b"script-src 'self'"]
    assert response.headers("x-content-type-options") == [b"nosniff"]


# --- Dot segments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/api/v1/users/../todos",
        b"/api/v1/users/./todos",
        b"/api/v1/users/%2e%2e/todos",
        b"/api/v1/users/%2E/todos",
        b"/api/v1/users/alice/../bob/todos",
        b"/api/v1/users/alice/todos/..",
        b"/..",
    ],
)
async def test_a_path_with_a_dot_segment_is_a_404(raw_path: bytes) -> None:
    inner = RecordingApp()
    messages: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, object]) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "raw_path": raw_path, "headers": []}
    await PathAndBodyChecksMiddleware(inner, MAX_BODY_BYTES)(scope, receive, send)  # type: ignore[arg-type]

    assert messages[0]["status"] == 404
    assert b'"error_code":"NOT_FOUND"' in messages[1]["body"]  # type: ignore[operator]
    assert not inner.called


@pytest.mark.parametrize(
    "path",
    ["/api/v1/users/a.b/todos", "/api/v1/users/.../todos", "/docs/static/swagger-ui.css", "/"],
)
async def test_dots_inside_a_segment_are_fine(path: str) -> None:
    inner = RecordingApp()

    response = await call_raw(PathAndBodyChecksMiddleware(inner, MAX_BODY_BYTES))  # path "/"
    scope_ok = await _call_path(PathAndBodyChecksMiddleware(inner, MAX_BODY_BYTES), path)

    assert response.status == 200
    assert scope_ok == 200


async def _call_path(app: object, path: str) -> int:
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])  # type: ignore[arg-type]

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    await app(scope, receive, send)  # type: ignore[operator]
    return statuses[0]


# --- Request log ------------------------------------------------------------------------

LOG_LINE = re.compile(
    r"^method=(?P<method>\S+) route=(?P<route>\S+) status=(?P<status>\d{3}) "
    r"duration_ms=(?P<duration>\d+\.\d) request_id=(?P<request_id>\S+)$"
)


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "todo_api.requests"]
    matches = [LOG_LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m.groupdict() for m in matches if m]


async def test_each_request_is_logged_once_by_route_template(
    offline_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api.requests")

    response = await offline_client.put(
        "/api/v1/users/secret-user/todos",
        params={"q": "secret-query"},
        headers={"X-Request-ID": "req-1", "Authorization": "Bearer secret-token"},
        json={"title": "secret-body"},
    )

    [line] = _request_lines(caplog)
    assert response.status_code == 405
    assert line["method"] == "PUT"
    assert line["route"] == "/api/v1/users/{user_id}/todos"
    assert line["status"] == "405"
    assert line["request_id"] == "req-1"
    logged = caplog.text
    for secret in ("secret-user", "secret-query", "secret-token", "secret-body"):
        assert secret not in logged


async def test_an_unrouted_request_is_logged_without_a_route(
    offline_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api.requests")

    await offline_client.get("/no/such/place")

    [line] = _request_lines(caplog)
    assert (line["route"], line["status"]) == ("-", "404")
    assert len(line["request_id"]) == 32


async def test_an_unexpected_error_is_logged_as_a_500(
    offline_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api.requests")

    response = await offline_client.get("/api/v1/users/alice/todos")  # no database here

    [line] = _request_lines(caplog)
    assert response.status_code == 500
    assert (line["route"], line["status"]) == ("/api/v1/users/{user_id}/todos", "500")


async def test_a_method_that_is_not_a_plain_token_is_logged_as_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api.requests")

    await call_raw(ResponseHeadersAndLogMiddleware(RecordingApp()), method="GET\nmethod=FORGED")

    [line] = _request_lines(caplog)
    assert line["method"] == "OTHER"
    assert len(line["request_id"]) == 32


async def test_nothing_is_logged_when_info_is_off(
    offline_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="todo_api.requests")

    await offline_client.get("/health")

    assert not [r for r in caplog.records if r.name == "todo_api.requests"]


async def test_other_scopes_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="todo_api.requests")
    seen: list[str] = []

    async def inner(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, object]:
        return {}

    async def ignore(_message: object) -> None:
        return None

    for middleware in (
        ResponseHeadersAndLogMiddleware(inner),
        PathAndBodyChecksMiddleware(inner, MAX_BODY_BYTES),
    ):
        await middleware({"type": "lifespan"}, nothing, ignore)  # type: ignore[arg-type]

    assert seen == ["lifespan"] * 2
    assert not caplog.records


def test_the_route_template_is_only_ever_a_route_path() -> None:
    class Route:
        path = "/api/v1/users/{user_id}/todos"

    assert route_template({"route": Route()}) == "/api/v1/users/{user_id}/todos"
    assert route_template({}) == "-"
    assert route_template({"route": object()}) == "-"
