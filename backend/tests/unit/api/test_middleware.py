"""The ASGI middleware (api/middleware.py): X-Request-ID, the security headers and the
request log on every response; 404 for dot segments, 413 for bodies over the limit and 415
for bodies not declared JSON, before anything reads the body.

Most tests call the middleware with raw ASGI scopes, so header bytes that an HTTP client
would refuse to send (CR/LF, non-ASCII) reach it as a hostile client could send them; the
others go through the app built without a database."""

import logging
import re
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from tests.helpers import assert_error, assert_validation_error
from tests.unit.asgi import RecordingApp, call_raw, client_for, discard, receive_nothing
from todo_api.api.limits import MAX_BODY_BYTES
from todo_api.api.middleware import (
    PathAndBodyChecksMiddleware,
    ResponseHeadersAndLogMiddleware,
    route_template,
)

# Answers without touching the database: no route, so a 404 once past the API key.
NO_DATABASE_NEEDED = "/api/v1/nowhere"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def _request_id(response_ids: list[bytes]) -> str:
    [value] = response_ids
    return value.decode("latin-1")


# --- Request ids (ResponseHeadersAndLogMiddleware) ----------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    [
        "abc-123",
        "0f8fe0a1-7f3b-4a0e-9a43-8f1b2a3c4d5e",
        "0f8fe0a17f3b4a0e9a438f1b2a3c4d5e",
        "Root=1-5759e988-bd862e3fe1be46a994272793",
        "trace.v1:span/2+x=y_z",
        "a" * 128,
    ],
)
async def test_sane_request_id_is_echoed(incoming: str) -> None:
    response = await call_raw(
        ResponseHeadersAndLogMiddleware(RecordingApp()),
        headers=[(b"x-request-id", incoming.encode())],
    )

    assert _request_id(response.headers("x-request-id")) == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        pytest.param(b"a" * 129, id="too-long"),
        pytest.param(b"has space", id="space"),
        pytest.param("café".encode(), id="non-ascii-utf8"),
        pytest.param(b"caf\xe9", id="non-ascii-latin1"),
        pytest.param(b"abc\r\nSet-Cookie: session=stolen", id="crlf"),
        pytest.param(b"abc\n", id="trailing-lf"),
        pytest.param(b"a" * 128 + b"\n", id="128-characters-and-lf"),
        pytest.param(b"abc\r", id="trailing-cr"),
        pytest.param(b"<script>alert(1)</script>", id="markup"),
        pytest.param(b"a;b", id="semicolon"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_insane_request_id_is_replaced_by_a_generated_one(incoming: bytes) -> None:
    response = await call_raw(
        ResponseHeadersAndLogMiddleware(RecordingApp()), headers=[(b"x-request-id", incoming)]
    )

    assert GENERATED_ID.match(_request_id(response.headers("x-request-id")))


async def test_missing_request_id_is_generated() -> None:
    response = await call_raw(ResponseHeadersAndLogMiddleware(RecordingApp()))

    assert GENERATED_ID.match(_request_id(response.headers("x-request-id")))


async def test_generated_request_ids_differ_per_request() -> None:
    app = ResponseHeadersAndLogMiddleware(RecordingApp())

    first = await call_raw(app)
    second = await call_raw(app)

    assert first.headers("x-request-id") != second.headers("x-request-id")


@pytest.mark.parametrize("incoming", [b"abc-123", b"not sane"], ids=["sane", "insane"])
async def test_request_id_in_scope_state_is_the_one_returned(incoming: bytes) -> None:
    inner = RecordingApp()

    response = await call_raw(
        ResponseHeadersAndLogMiddleware(inner), headers=[(b"x-request-id", incoming)]
    )

    [scope] = inner.scopes
    assert scope["state"]["request_id"] == _request_id(response.headers("x-request-id"))


async def test_request_id_replaces_one_set_by_the_app() -> None:
    async def app_setting_its_own(scope: Scope, receive: Receive, send: Send) -> None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-request-id", b"in")],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b""})

    response = await call_raw(
        ResponseHeadersAndLogMiddleware(app_setting_its_own), headers=[(b"x-request-id", b"outer")]
    )

    assert response.headers("x-request-id") == [b"outer"]


async def test_non_http_scope_passes_through_untouched() -> None:
    inner = RecordingApp()
    scope = {"type": "lifespan"}

    async def receive() -> dict[str, str]:
        return {"type": "lifespan.startup"}

    async def send(_: object) -> None:
        return None

    await ResponseHeadersAndLogMiddleware(inner)(scope, receive, send)

    assert inner.scopes == [{"type": "lifespan"}]


# --- The real app: every response carries an X-Request-ID --------------------------------


TODOS = "/api/v1/users/alice/todos"
TOO_LARGE = b" " * (64 * 1024 + 1)


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 4096):
        yield data[start : start + 4096]


@pytest.fixture
async def client_with_failing_route(offline_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus one route that raises, to reach the last-resort 500 handler."""

    async def fail() -> None:
        raise RuntimeError("a bug")

    offline_app.add_api_route("/test-only/fail", fail)
    async with client_for(offline_app) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "url", "body", "content_type", "chunked", "status"),
    [
        pytest.param("GET", "/health", None, None, False, 200, id="200"),
        pytest.param("GET", "/nowhere", None, None, False, 404, id="404"),
        pytest.param("DELETE", "/health", None, None, False, 405, id="405"),
        pytest.param("POST", TODOS, b"{", "application/json", False, 422, id="422"),
        pytest.param("POST", TODOS, b"x", "text/plain", False, 415, id="415"),
        pytest.param("POST", TODOS, TOO_LARGE, "application/json", False, 413, id="413"),
        pytest.param("POST", TODOS, TOO_LARGE, "application/json", True, 413, id="413-chunked"),
        pytest.param("GET", "/test-only/fail", None, None, False, 500, id="500"),
    ],
)
async def test_every_app_response_echoes_the_request_id(
    client_with_failing_route: httpx.AsyncClient,
    method: str,
    url: str,
    body: bytes | None,
    content_type: str | None,
    chunked: bool,
    status: int,
) -> None:
    headers = {"X-Request-ID": "req-42"}
    if content_type:
        headers["Content-Type"] = content_type
    content = _chunked(body) if chunked and body else body

    response = await client_with_failing_route.request(
        method, url, content=content, headers=headers
    )

    assert response.status_code == status
    assert response.headers["x-request-id"] == "req-42"


# --- JSON bodies only (PathAndBodyChecksMiddleware) --------------------------------------------


def _body_headers(content_type: bytes | None, length: bytes = b"2") -> list[tuple[bytes, bytes]]:
    headers = [(b"content-length", length)]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    return headers


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize(
    "content_type",
    [
        b"application/json",
        b"application/json; charset=utf-8",
        b"application/json;charset=UTF-8",
        b"application/merge-patch+json",
        b"application/problem+json",
        b"Application/JSON",
    ],
)
async def test_json_body_is_let_through(method: str, content_type: bytes) -> None:
    inner = RecordingApp()

    response = await call_raw(
        PathAndBodyChecksMiddleware(inner, max_body_size=MAX_BODY_BYTES),
        method=method,
        headers=_body_headers(content_type),
    )

    assert inner.called
    assert response.status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(b"text/plain", id="text-plain"),
        pytest.param(None, id="missing"),
        pytest.param(b"", id="empty"),
        pytest.param(b"text/json", id="text-json"),
        pytest.param(b"application/jsonp", id="jsonp"),
        pytest.param(b"application/x-www-form-urlencoded", id="form"),
        pytest.param(b"multipart/form-data; boundary=x", id="multipart"),
        pytest.param(b"application/octet-stream", id="octet-stream"),
        pytest.param(b"json", id="no-slash"),
    ],
)
async def test_body_not_declared_json_is_415(method: str, content_type: bytes | None) -> None:
    inner = RecordingApp()

    response = await call_raw(
        PathAndBodyChecksMiddleware(inner, max_body_size=MAX_BODY_BYTES),
        method=method,
        headers=_body_headers(content_type),
    )

    assert not inner.called
    assert response.status == 415
    assert orjson.loads(response.body)["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert response.headers("content-type") == [b"application/problem+json"]


async def test_chunked_body_not_declared_json_is_415() -> None:
    inner = RecordingApp()

    response = await call_raw(
        PathAndBodyChecksMiddleware(inner, max_body_size=MAX_BODY_BYTES),
        method="POST",
        headers=[(b"transfer-encoding", b"chunked"), (b"content-type", b"text/plain")],
    )

    assert not inner.called
    assert response.status == 415


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="no-length-no-type"),
        pytest.param([(b"content-length", b"0")], id="zero-length"),
        pytest.param([(b"content-length", b"0"), (b"content-type", b"text/plain")], id="zero-text"),
    ],
)
async def test_body_less_patch_is_let_through(headers: list[tuple[bytes, bytes]]) -> None:
    inner = RecordingApp()

    response = await call_raw(
        PathAndBodyChecksMiddleware(inner, max_body_size=MAX_BODY_BYTES),
        method="PATCH",
        headers=headers,
    )

    assert inner.called
    assert response.status == 200


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD", "OPTIONS"])
async def test_methods_without_a_body_are_not_checked(method: str) -> None:
    inner = RecordingApp()

    response = await call_raw(
        PathAndBodyChecksMiddleware(inner, max_body_size=MAX_BODY_BYTES),
        method=method,
        headers=_body_headers(b"text/plain"),
    )

    assert inner.called
    assert response.status == 200


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

    for middleware in (
        ResponseHeadersAndLogMiddleware(inner),
        PathAndBodyChecksMiddleware(inner, MAX_BODY_BYTES),
    ):
        await middleware({"type": "lifespan"}, receive_nothing, discard)

    assert seen == ["lifespan"] * 2
    assert not caplog.records


def test_the_route_template_is_only_ever_a_route_path() -> None:
    class Route:
        path = "/api/v1/users/{user_id}/todos"

    assert route_template({"route": Route()}) == "/api/v1/users/{user_id}/todos"
    assert route_template({}) == "-"
    assert route_template({"route": object()}) == "-"


# --- Body rules on the real app, without a database --------------------------------------

MAX_BODY = 64 * 1024


async def _chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _unterminated_json(length: int) -> bytes:
    """Invalid JSON of exactly `length` bytes: a 422 if read, a 413 if too long to read."""
    return b"[" + b" " * (length - 1)


async def test_non_json_body_is_415(offline_client: httpx.AsyncClient) -> None:
    response = await offline_client.post(
        TODOS, content=b"title=x", headers={"content-type": "text/plain"}
    )

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_64_kib_is_413(offline_client: httpx.AsyncClient, chunked: bool) -> None:
    body = _unterminated_json(MAX_BODY + 1)

    response = await offline_client.post(
        TODOS,
        content=_chunks(body) if chunked else body,
        headers={"content-type": "application/json"},
    )

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_of_exactly_64_kib_is_read(
    offline_client: httpx.AsyncClient, chunked: bool
) -> None:
    body = _unterminated_json(MAX_BODY)

    response = await offline_client.post(
        TODOS,
        content=_chunks(body) if chunked else body,
        headers={"content-type": "application/json"},
    )

    assert_validation_error(response, "body")


@pytest.mark.parametrize(
    "length",
    [b"\xb2", b"\xb9\xb2\xb3", b"12abc", b"-1", b"1e3", b"0x10"],
    ids=["superscript-two", "superscript-123", "trailing-letters", "negative", "exponent", "hex"],
)
async def test_a_content_length_that_is_not_ascii_digits_is_a_400(length: bytes) -> None:
    """Headers are Latin-1, and Python's `isdigit()` takes "²" (byte B2), which `int()` then
    refuses: that was a 500. Servers such as uvicorn refuse these before the app; another
    ASGI server may not."""
    inner = RecordingApp()

    response = await call_raw(
        PathAndBodyChecksMiddleware(inner, max_body_size=MAX_BODY_BYTES),
        method="POST",
        headers=_body_headers(b"application/json", length),
    )

    assert not inner.called
    assert response.status == 400
    assert b'"error_code":"BAD_REQUEST"' in response.body
