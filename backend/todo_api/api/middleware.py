"""Pure ASGI middleware for cross-cutting HTTP rules (cheaper than BaseHTTPMiddleware)."""

import logging
import re
import time
import uuid
from email.message import Message as MimeMessage
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.api.headers import SECURITY_HEADERS
from todo_api.errors import ErrorResponse, payload_too_large, unsupported_media_type

request_logger = logging.getLogger("todo_api.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and plain, so it is safe in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class RequestIdMiddleware:
    """Gives every response an `X-Request-ID`: the caller's when sane, else a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = (
            incoming if incoming and _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_request_id)


def _is_json(content_type: str) -> bool:
    message = MimeMessage()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


class JsonBodyMiddleware:
    """Answers 415 to a POST, PUT or PATCH whose body is not declared as JSON, before the
    body is read. FastAPI alone would try to validate the raw bytes and answer 422."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _METHODS_WITH_BODY:
            headers = Headers(scope=scope)
            if _has_body(headers) and not _is_json(headers.get("content-type", "")):
                await unsupported_media_type()(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Caps request bodies at `max_body_size` bytes without ever holding more in memory.

    A declared Content-Length over the limit is answered at once, before any of the body is
    read. A body without a declared length (chunked) is counted as it streams, and the read
    that crosses the limit fails with a 413 that the app's error handlers render. (FastAPI's
    own `max_body_size` answers a declared length in plain text, outside our error format.)"""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_size:
            await payload_too_large()(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise HTTPException(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return message

        await self.app(scope, receive_within_limit, send)


_SECURITY_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]


class SecurityHeadersMiddleware:
    """Adds `X-Content-Type-Options`, `Content-Security-Policy` and `Referrer-Policy` to every
    response that does not set them itself (the docs pages set a CSP of their own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in _SECURITY_HEADERS if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _has_dot_segment(scope: Scope) -> bool:
    """A `.` or `..` segment in the path as sent, percent-encoded or not."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    if b"." not in raw_path and b"%" not in raw_path:
        return False
    return any(unquote_to_bytes(segment) in (b".", b"..") for segment in raw_path.split(b"/"))


class DotSegmentMiddleware:
    """Answers 404 to a path with a `.` or `..` segment instead of routing it.

    A browser or curl removes dot segments before sending, so only a client that means to
    confuse sends them: `/users/alice/../bob/todos` names bob's todos to anything that
    normalises the path (a proxy, a log reader) and alice's to one that does not. No
    resource of this API has such a path, so none is guessed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_dot_segment(scope):
            response = ErrorResponse(HTTPStatus.NOT_FOUND, "NOT_FOUND", "Resource not found.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


_LOGGED_METHOD = re.compile(r"[A-Z]{1,16}")
UNMATCHED_ROUTE = "-"


def route_template(scope: Scope) -> str:
    """The path pattern of the route that answered (`/api/v1/users/{user_id}/todos`), never
    the path itself, which holds user ids; `-` when no route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class RequestLogMiddleware:
    """One log line per request on the `todo_api.requests` logger, in logfmt:

        method=GET route=/api/v1/users/{user_id}/todos status=200 duration_ms=1.9 request_id=...

    Only these five fields: never the path's values, the query string, headers (so no
    credentials) or bodies. An exception that escapes the app is logged as status 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not request_logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = HTTPStatus.INTERNAL_SERVER_ERROR.value

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            method = scope["method"] if _LOGGED_METHOD.fullmatch(scope["method"]) else "OTHER"
            request_logger.info(
                "method=%s route=%s status=%d duration_ms=%.1f request_id=%s",
                method,
                route_template(scope),
                status,
                (time.perf_counter() - started) * 1000,
                scope.get("state", {}).get("request_id", "-"),
            )
