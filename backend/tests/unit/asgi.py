"""In-process helpers for the unit tests: HTTP clients for ASGI apps and raw ASGI calls."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@asynccontextmanager
async def client_for(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `app` in-process; the app's lifespan is not started."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass
class RecordingApp:
    """An inner ASGI app that answers 200 and remembers the scope it was called with."""

    scopes: list[Scope] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        await PlainTextResponse("inner")(scope, receive, send)

    @property
    def called(self) -> bool:
        return bool(self.scopes)


@dataclass
class RawResponse:
    """What a raw ASGI call sent back."""

    messages: list[Message]

    @property
    def status(self) -> int:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return int(start["status"])

    def headers(self, name: str) -> list[bytes]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        wanted = name.lower().encode("latin-1")
        return [value for key, value in start["headers"] if key.lower() == wanted]

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"
        )


async def call_raw(
    app: ASGIApp, *, method: str = "GET", headers: Sequence[tuple[bytes, bytes]] = ()
) -> RawResponse:
    """Calls `app` with an HTTP scope holding exactly these raw header bytes (no client-side
    validation, so CR/LF and non-ASCII bytes reach the app as a hostile client would send them)."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 12345),
        "server": ("testserver", 80),
    }
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return RawResponse(messages)


async def receive_nothing() -> Message:
    """An ASGI `receive` for scopes whose app is not expected to read anything."""
    return {"type": "http.disconnect"}


async def discard(_message: Message) -> None:
    """An ASGI `send` that drops what it is given."""
