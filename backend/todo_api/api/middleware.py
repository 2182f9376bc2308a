"""Pure ASGI middleware for cross-cutting HTTP rules (cheaper than BaseHTTPMiddleware)."""

import re
import uuid
from email.message import Message as MimeMessage

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api.errors import unsupported_media_type

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and plain, so it is safe in logs and headers.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,128}$")
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
        request_id = incoming if incoming and _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
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
