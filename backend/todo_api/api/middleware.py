"""The HTTP rules that hold for every request, as two pure ASGI layers.

`ResponseHeadersAndLogMiddleware` (outermost) gives every response its request id and security
headers and logs it; `PathAndBodyChecksMiddleware` (innermost) turns away requests no route
should see before any of their body is read. Each rule is a function of its own; they
share two layers because every ASGI layer, and every `send` wrapper, costs each request a
few microseconds whether it acts or not (specs/decisions/0009-performance.md)."""

import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from email.message import Message as MimeMessage
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.api.errors import (
    bad_content_length,
    internal_error,
    log_unexpected_error,
    not_found,
    payload_too_large,
    unsupported_media_type,
)
from todo_api.api.headers import SECURITY_HEADERS
from todo_api.api.routing import route_template
from todo_api.metrics import Metrics

request_logger = logging.getLogger("todo_api.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and plain, so it is safe in logs and headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _request_id_for(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is short and plain, so it is safe in logs and
    headers; otherwise a new random one (32 hex digits)."""
    incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return os.urandom(16).hex()


_REQUEST_ID_NAME = REQUEST_ID_HEADER.lower().encode("latin-1")
_SECURITY_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]


def _with_response_headers(
    headers: Iterable[tuple[bytes, bytes]], request_id: str
) -> list[tuple[bytes, bytes]]:
    """A response's headers plus the security headers it does not set itself (the docs
    pages set a CSP of their own), and the request id in place of any it set."""
    kept = [item for item in headers if item[0].lower() != _REQUEST_ID_NAME]
    present = {name.lower() for name, _ in kept}
    kept.extend(item for item in _SECURITY_HEADERS if item[0] not in present)
    kept.append((_REQUEST_ID_NAME, request_id.encode("latin-1")))
    return kept


_LOGGED_METHOD = re.compile(r"[A-Z]{1,16}")


class ResponseHeadersAndLogMiddleware:
    """What every response carries, whoever answered it (a route, an error handler, CORS,
    the checks below): an `X-Request-ID`, the caller's when sane or a new one; the headers
    of `SECURITY_HEADERS` it does not set itself; and, with the `todo_api.requests` logger
    at INFO, one log line in logfmt:

        method=GET route=/api/v1/users/{user_id}/todos status=200 duration_ms=1.9 request_id=...

    Only these five fields: never the path's values, the query string, headers (so no
    credentials) or bodies. An exception that escapes the app is answered and logged as a
    500.

    With `metrics`, the same method, route template, status and duration are recorded for
    /metrics, here rather than in a layer of its own (specs/decisions/0014-metrics.md)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id_for(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = _with_response_headers(message.get("headers", ()), request_id)
            await send(message)

        logged = request_logger.isEnabledFor(logging.INFO)
        metrics = self.metrics
        if not logged and metrics is None:
            await self._answer(scope, receive, send_with_headers, lambda: status != 0)
            return
        started = time.perf_counter()
        try:
            await self._answer(scope, receive, send_with_headers, lambda: status != 0)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            final_status = status or HTTPStatus.INTERNAL_SERVER_ERROR.value
            if metrics is not None:
                metrics.observe_request(scope["method"], route, final_status, seconds)
            if logged:
                self._log(scope, route, final_status, seconds, request_id)

    @staticmethod
    def _log(scope: Scope, route: str, status: int, seconds: float, request_id: str) -> None:
        fields = {
            "method": scope["method"] if _LOGGED_METHOD.fullmatch(scope["method"]) else "OTHER",
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            "request_id": request_id,
        }
        # The same fields twice: in the logfmt text, and as the record's own, for
        # LOG_FORMAT=json (todo_api/logs.py).
        request_logger.info(
            "method=%(method)s route=%(route)s status=%(status)d "
            "duration_ms=%(duration_ms).1f request_id=%(request_id)s",
            fields,
            extra=fields,
        )

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, answered: Callable[[], bool]
    ) -> None:
        """Serve the request; an exception that escapes the app is a 500, logged here, once.
        Not raised on: Starlette would hand it to the server, which logs the traceback a
        second time, under the raw path."""
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            log_unexpected_error(scope, exc)
            if not answered():
                await internal_error()(scope, receive, send)


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON (`application/json`, `application/*+json`, any
    parameters). Cached: clients send the same few values, and parsing one with the
    standard library's MIME parser costs about 3 µs."""
    message = MimeMessage()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


def _has_dot_segment(scope: Scope) -> bool:
    """A `.` or `..` segment in the path as sent, percent-encoded or not.

    A browser or curl removes dot segments before sending, so only a client that means to
    confuse sends them: `/users/alice/../bob/todos` names bob's todos to anything that
    normalises the path (a proxy, a log reader) and alice's to one that does not. No
    resource of this API has such a path, so none is guessed."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    if b"." not in raw_path and b"%" not in raw_path:
        return False
    return any(unquote_to_bytes(segment) in (b".", b"..") for segment in raw_path.split(b"/"))


class PathAndBodyChecksMiddleware:
    """Turns away, before routing and before reading any of the body:

    - a path with a `.` or `..` segment: 404, as for any path no route serves;
    - a Content-Length that is not a number of bytes: 400;
    - a declared Content-Length over `max_body_size`: 413;
    - a POST, PUT or PATCH whose body is not declared as JSON: 415 (FastAPI alone would try
      to validate the raw bytes and answer 422).

    And it answers HEAD as the GET of the same path, without the body.

    A body without a declared length (chunked) is counted as it streams, and the read that
    crosses the limit fails with a 413 that the app's error handlers render, so no more
    than `max_body_size` bytes are ever held. (FastAPI's own `max_body_size` answers a
    declared length in plain text, outside the error format.)"""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    def _rejection(self, scope: Scope) -> Response | None:
        if _has_dot_segment(scope):
            return not_found()
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None:
            # ASCII digits only (RFC 9110, 8.6): str.isdigit() also takes "²", which int()
            # refuses.
            if not (declared.isascii() and declared.isdigit()):
                return bad_content_length()
            if int(declared) > self.max_body_size:
                return payload_too_large()
        if (
            scope["method"] in _METHODS_WITH_BODY
            and _has_body(headers)
            and not _is_json(headers.get("content-type", ""))
        ):
            return unsupported_media_type()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rejection = self._rejection(scope)
        if rejection is not None:
            await rejection(scope, receive, send)
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

        if scope["method"] == "HEAD":
            await self._head(scope, receive_within_limit, send)
            return
        await self.app(scope, receive_within_limit, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HEAD wherever GET works (RFC 9110, 9.3.2): the GET, answered with its status and
        headers (its Content-Length included) and no body. On a copy of the scope, so the
        request log still says HEAD; the route that answered is copied back for it."""
        as_get = {**scope, "method": "GET"}

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(as_get, receive, send_without_body)
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]
