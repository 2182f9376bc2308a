"""The ASGI middleware: X-Request-ID on every response, and 415 for bodies not declared JSON.

Most tests call the middleware with raw ASGI scopes, so header bytes that an HTTP client
would refuse to send (CR/LF, non-ASCII) reach it as a hostile client could send them."""

import re
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from tests.unit.asgi import RecordingApp, call_raw, client_for
from todo_api.api.limits import MAX_BODY_BYTES
from todo_api.api.middleware import PathAndBodyChecksMiddleware, ResponseHeadersAndLogMiddleware

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
    assert response.headers("content-type") == [b"application/json"]


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
