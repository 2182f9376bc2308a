"""Hostile input, one table: what testers type into Swagger UI and what broken or malicious
clients send, in the path, the query, the headers and the body.

Each request is handed to the app as raw ASGI (exact path bytes, query bytes, header bytes
and body chunks, nothing normalised by a client library) while two users exist: the
victim, whose todo holds a secret, and the attacker, who sends every request. For every
row: no 500; the documented status, and for an error the JSON error body with its
`error_code` (and the offending field for a 422); nothing in the answer belongs to the
victim; and the victim's todo and list are exactly as before.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.types import Message, Scope

from tests.helpers import create_todo, todo_url, todos_url
from todo_api.api.limits import MAX_BODY_BYTES

VICTIM = "victim"
ATTACKER = "mallory"
JSON = (b"content-type", b"application/json")
MB = 1024 * 1024
CHUNK = 16 * 1024


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the documented answer."""

    name: str
    path: str
    status: int
    error_code: str | None = None
    field: str | None = None
    method: str = "GET"
    query: str = ""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    # A body sent as this many 16 KiB chunks of `body` repeated (for 10 MB streams).
    chunks: int = 0

    def __str__(self) -> str:
        return self.name


ITEM = "/api/v1/users/<attacker>/todos/<attacker_todo>"
LIST = "/api/v1/users/<attacker>/todos"
VICTIM_ITEM_AS_ATTACKER = "/api/v1/users/<attacker>/todos/<victim_todo>"


def _body(value: Any) -> bytes:
    return orjson.dumps(value)


def post(
    name: str, body: bytes, status: int, error_code: str | None = None, **more: Any
) -> Hostile:
    return Hostile(
        name, LIST, status, error_code, method="POST", headers=(JSON,), body=body, **more
    )


def query(name: str, text: str, status: int = 422, field: str | None = None) -> Hostile:
    error = "VALIDATION_ERROR" if status == 422 else None
    return Hostile(name, LIST, status, error, field, query=text)


def user_path(name: str, user_id: str, status: int = 422) -> Hostile:
    error = {422: "VALIDATION_ERROR", 404: "NOT_FOUND"}[status]
    field = "path.user_id" if status == 422 else None
    return Hostile(name, f"/api/v1/users/{user_id}/todos", status, error, field)


def todo_path(name: str, todo_id: str, status: int = 422, method: str = "GET") -> Hostile:
    error = {422: "VALIDATION_ERROR", 404: "NOT_FOUND"}[status]
    field = "path.todo_id" if status == 422 else None
    return Hostile(name, f"{LIST}/{todo_id}", status, error, field, method=method)


CASES = [
    # --- path: user_id ------------------------------------------------------------------
    user_path("user_id with NUL", "mal%00lory"),
    user_path("user_id of 129 characters", "a" * 129),
    user_path("user_id with an encoded slash", "mallory%2Fvictim", 404),
    user_path("user_id '..' (dot segment)", "..", 404),
    user_path("user_id '.' (dot segment)", ".", 404),
    user_path("user_id '%2e%2e' (encoded dot segment)", "%2e%2e", 404),
    Hostile(
        "dot segments to reach another user",
        "/api/v1/users/mallory/../victim/todos",
        404,
        "NOT_FOUND",
    ),
    Hostile(
        "encoded dot segments to reach another user",
        "/api/v1/users/mallory/%2E%2E/victim/todos",
        404,
        "NOT_FOUND",
    ),
    user_path("user_id with a Cyrillic look-alike letter", "%D0%B0lice"),
    user_path("user_id in fullwidth letters", "%EF%BD%81%EF%BD%8C%EF%BD%89%EF%BD%83%EF%BD%85"),
    user_path("user_id with an encoded lone surrogate", "a%ED%A0%80b"),
    user_path("user_id with invalid UTF-8", "a%FF%FEb"),
    user_path("user_id with SQL injection", "victim'%20OR%20'1'%3D'1"),
    user_path("user_id with a percent sign", "%25"),
    user_path("user_id with a backslash", "mallory%5Cvictim"),
    user_path("user_id with a zero-width space", "victim%E2%80%8B"),
    # --- path: todo_id ------------------------------------------------------------------
    todo_path("todo_id with SQL injection", "1%20OR%201%3D1"),
    todo_path("todo_id with NUL", "%00"),
    todo_path("todo_id of 1000 characters", "f" * 1000),
    todo_path("todo_id '%2e' (encoded dot segment)", "%2e", 404),
    todo_path("get another user's todo", "<victim_todo>", 404),
    Hostile(
        "replace another user's todo",
        VICTIM_ITEM_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method="PUT",
        headers=(JSON,),
        body=_body({"title": "pwned", "description": None, "is_completed": True}),
    ),
    Hostile(
        "patch another user's todo",
        VICTIM_ITEM_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method="PATCH",
        headers=(JSON,),
        body=_body({"title": "pwned"}),
    ),
    Hostile(
        "complete another user's todo",
        VICTIM_ITEM_AS_ATTACKER + "/complete",
        404,
        "NOT_FOUND",
        method="PATCH",
    ),
    todo_path("delete another user's todo", "<victim_todo>", 404, "DELETE"),
    todo_path("another user's todo id in upper case", "<victim_todo_upper>", 404),
    # --- query --------------------------------------------------------------------------
    query("limit as a huge integer", "limit=" + "9" * 40, field="query.limit"),
    query("limit negative", "limit=-1", field="query.limit"),
    query("limit zero", "limit=0", field="query.limit"),
    query("limit in exponent notation", "limit=1e3", field="query.limit"),
    query("limit NaN", "limit=NaN", field="query.limit"),
    query("limit in fullwidth digits", "limit=%EF%BC%91%EF%BC%90", field="query.limit"),
    query("limit empty", "limit=", field="query.limit"),
    query("limit twice, the last one too large", "limit=1&limit=1000000", field="query.limit"),
    query("is_completed neither true nor false", "is_completed=maybe", field="query.is_completed"),
    query("order with SQL injection", "order=desc%3B%20DROP%20TABLE%20todos", field="query.order"),
    query("q with NUL", "q=a%00b", field="query.q"),
    query("q of 256 characters", "q=" + "a" * 256, field="query.q"),
    query("q '%' matches only a literal percent sign", "q=%25", 200),
    query("q '_' matches only a literal underscore", "q=_", 200),
    query("q '%_%' wildcards stay literal", "q=%25_%25", 200),
    query("q with SQL injection", "q=%27%20OR%20%271%27%3D%271", 200),
    query("q with a backslash", "q=%5C", 200),
    query("q with invalid UTF-8", "q=%FF%FE", 200),
    query("user_id in the query string is ignored", "user_id=victim&user=victim", 200),
    query("cursor with characters outside base64url", "cursor=%21%21%21%21", field="query.cursor"),
    query("cursor of 129 characters", "cursor=" + "A" * 129, field="query.cursor"),
    query("forged cursor that does not decode", "cursor=YXNjOjE6eno", field="query.cursor"),
    query(
        "forged cursor with a huge timestamp",
        "cursor=ZGVzYzo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw",
        field="query.cursor",
    ),
    query(
        "cursor issued for the other order",
        "order=asc&cursor=<victim_cursor>",
        field="query.cursor",
    ),
    query("another user's cursor is only a position", "cursor=<victim_cursor>", 200),
    # --- headers ------------------------------------------------------------------------
    Hostile(
        "text/plain body",
        LIST,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        method="POST",
        headers=((b"content-type", b"text/plain"),),
        body=b'{"title": "x"}',
    ),
    Hostile(
        "body without a content type",
        LIST,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        method="POST",
        body=b'{"title": "x"}',
    ),
    Hostile(
        "content type with a fullwidth look-alike",
        LIST,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        method="POST",
        headers=((b"content-type", "application/\uff4ason".encode()),),
        body=b'{"title": "x"}',
    ),
    Hostile(
        "content type with NUL",
        LIST,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        method="POST",
        headers=((b"content-type", b"application/json\x00"),),
        body=b'{"title": "x"}',
    ),
    Hostile(
        "X-Request-ID with CR LF (header injection)",
        LIST,
        200,
        headers=((b"x-request-id", b"a\r\nset-cookie: x=y"),),
    ),
    Hostile(
        "X-Request-ID with invalid UTF-8", LIST, 200, headers=((b"x-request-id", b"\xff\xfe"),)
    ),
    Hostile(
        "method override header is ignored",
        VICTIM_ITEM_AS_ATTACKER,
        404,
        "NOT_FOUND",
        headers=((b"x-http-method-override", b"DELETE"),),
    ),
    Hostile(
        "garbage Authorization header (no API key configured)",
        LIST,
        200,
        headers=((b"authorization", b"Bearer \x00\xff"),),
    ),
    Hostile(
        "request from a foreign Origin (CORS is off)",
        LIST,
        200,
        headers=((b"origin", b"https://evil.example"),),
    ),
    Hostile(
        "CORS preflight from a foreign Origin (CORS is off)",
        LIST,
        405,
        "METHOD_NOT_ALLOWED",
        method="OPTIONS",
        headers=(
            (b"origin", b"https://evil.example"),
            (b"access-control-request-method", b"DELETE"),
        ),
    ),
    Hostile(
        "spoofed X-Forwarded-For and X-Forwarded-Host",
        LIST,
        200,
        headers=((b"x-forwarded-for", b"127.0.0.1"), (b"x-forwarded-host", b"victim")),
    ),
    Hostile(
        "Accept asks for HTML; the answer stays JSON",
        LIST,
        200,
        headers=((b"accept", b"text/html"),),
    ),
    Hostile(
        "a 8 KiB cookie",
        LIST,
        200,
        headers=((b"cookie", b"session=" + b"x" * 8192),),
    ),
    Hostile(
        "Content-Length of 10 GB, with a tiny body",
        LIST,
        413,
        "PAYLOAD_TOO_LARGE",
        method="POST",
        headers=(JSON, (b"content-length", b"10000000000")),
        body=b"{}",
    ),
    # --- body: size ---------------------------------------------------------------------
    post("10 MB body, declared", b"x" * (10 * MB), 413, "PAYLOAD_TOO_LARGE"),
    Hostile(
        "10 MB body claiming Content-Length 10",
        LIST,
        413,
        "PAYLOAD_TOO_LARGE",
        method="POST",
        headers=(JSON, (b"content-length", b"10")),
        body=b"x" * CHUNK,
        chunks=640,
    ),
    Hostile(
        "10 MB chunked body",
        LIST,
        413,
        "PAYLOAD_TOO_LARGE",
        method="POST",
        headers=(JSON, (b"transfer-encoding", b"chunked")),
        body=b" " * CHUNK,
        chunks=640,
    ),
    # --- body: not JSON -----------------------------------------------------------------
    post("truncated JSON", b'{"title": "x"', 422, "VALIDATION_ERROR", field="body"),
    post("invalid UTF-8", b'{"title": "\xff\xfe"}', 422, "VALIDATION_ERROR", field="body"),
    post("lone surrogate escape", b'{"title": "\\ud800"}', 422, "VALIDATION_ERROR", field="body"),
    post("byte order mark", b'\xef\xbb\xbf{"title": "x"}', 422, "VALIDATION_ERROR", field="body"),
    post("NaN", b'{"title": "x", "is_completed": NaN}', 422, "VALIDATION_ERROR", field="body"),
    post("trailing comma", b'{"title": "x",}', 422, "VALIDATION_ERROR", field="body"),
    post(
        "20,000 nested arrays",
        b"[" * 20_000 + b"]" * 20_000,
        422,
        "VALIDATION_ERROR",
        field="body",
    ),
    post(
        "deep nesting inside a field",
        b'{"title": "x", "description": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        422,
        "VALIDATION_ERROR",
        field="body",
    ),
    post(
        "float overflowing to infinity", b'{"title": 1e999}', 422, "VALIDATION_ERROR", field="body"
    ),
    post("empty body", b"", 422, "VALIDATION_ERROR", field="body"),
    # --- body: JSON of the wrong shape --------------------------------------------------
    post("JSON array", b"[]", 422, "VALIDATION_ERROR", field="body"),
    post("JSON string", b'"title"', 422, "VALIDATION_ERROR", field="body"),
    post("JSON null", b"null", 422, "VALIDATION_ERROR", field="body"),
    post(
        "title as a number too large for a double",
        b'{"title": ' + b"9" * 400 + b"}",
        422,
        "VALIDATION_ERROR",
        field="body",
    ),
    post("title as an array", _body({"title": ["x"]}), 422, "VALIDATION_ERROR", field="body.title"),
    post("title null", _body({"title": None}), 422, "VALIDATION_ERROR", field="body.title"),
    post(
        "title with NUL", _body({"title": "a\u0000b"}), 422, "VALIDATION_ERROR", field="body.title"
    ),
    post(
        "title of ideographic and em spaces only",
        _body({"title": "\u3000\u2003 "}),
        422,
        "VALIDATION_ERROR",
        field="body.title",
    ),
    post(
        "title of 256 characters",
        _body({"title": "x" * 256}),
        422,
        "VALIDATION_ERROR",
        field="body.title",
    ),
    post(
        "title key with a Cyrillic look-alike letter",
        _body({"t\u0456tle": "x"}),
        422,
        "VALIDATION_ERROR",
        field="body.title",
    ),
    post(
        "description with NUL",
        _body({"title": "x", "description": "\u0000"}),
        422,
        "VALIDATION_ERROR",
        field="body.description",
    ),
    post(
        "description as a number",
        _body({"title": "x", "description": 12}),
        422,
        "VALIDATION_ERROR",
        field="body.description",
    ),
    post(
        "is_completed as the string 'true'",
        _body({"title": "x", "is_completed": "true"}),
        422,
        "VALIDATION_ERROR",
        field="body.is_completed",
    ),
    post(
        "is_completed as 1",
        _body({"title": "x", "is_completed": 1}),
        422,
        "VALIDATION_ERROR",
        field="body.is_completed",
    ),
    post(
        "is_completed as 1.0",
        b'{"title": "x", "is_completed": 1.0}',
        422,
        "VALIDATION_ERROR",
        field="body.is_completed",
    ),
    post(
        "is_completed as a huge integer",
        b'{"title": "x", "is_completed": ' + b"1" * 30 + b"}",
        422,
        "VALIDATION_ERROR",
        field="body.is_completed",
    ),
    post(
        "duplicate keys, the last one invalid",
        b'{"title": "ok", "title": 5}',
        422,
        "VALIDATION_ERROR",
        field="body.title",
    ),
    # --- body: valid, and still harmless ------------------------------------------------
    post("duplicate keys: the last one counts", b'{"title": "a\\u0000", "title": "ok"}', 201),
    post("SQL injection as a title", _body({"title": "'); DROP TABLE todos; --"}), 201),
    post(
        "user_id and id of the victim in the body are ignored",
        _body({"title": "x", "user_id": "<victim>", "id": "<victim_todo>"}),
        201,
    ),
    post(
        "title with a right-to-left override and look-alikes",
        _body({"title": "\u202evi\u0441tim"}),
        201,
    ),
    Hostile(
        "replace own todo naming the victim in the body",
        ITEM,
        200,
        method="PUT",
        headers=(JSON,),
        body=_body(
            {
                "title": "x",
                "description": None,
                "is_completed": False,
                "user_id": "<victim>",
                "id": "<victim_todo>",
            }
        ),
    ),
    Hostile(
        "patch own todo with only the victim's user_id",
        ITEM,
        200,
        method="PATCH",
        headers=(JSON,),
        body=_body({"user_id": "<victim>"}),
    ),
]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def json(self) -> Any:
        return orjson.loads(self.body)


def _chunks(case: Hostile) -> Iterator[bytes]:
    if case.chunks:
        for _ in range(case.chunks):
            yield case.body
    else:
        yield case.body


async def send_raw(app: FastAPI, case: Hostile, substitute: dict[str, str]) -> RawResponse:
    """`case` as an HTTP server would hand it to the app: the path percent-decoded as
    uvicorn does, raw bytes everywhere else, and the body in chunks as the client sends."""

    def fill(text: str) -> str:
        for token, value in substitute.items():
            text = text.replace(token, value)
        return text

    raw_path = fill(case.path).encode("ascii")
    body = case.body
    for token, value in substitute.items():
        body = body.replace(token.encode(), value.encode())
    case = Hostile(**{**case.__dict__, "body": body})
    headers = list(case.headers)
    if case.body and not case.chunks and not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(case.body)).encode()))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": case.method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": fill(case.query).encode("ascii"),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 12345),
        "server": ("testserver", 80),
    }
    chunks = _chunks(case)
    pending = next(chunks, b"")
    response = RawResponse(0, {}, b"")
    messages: list[Message] = []

    async def receive() -> Message:
        nonlocal pending
        if pending is None:
            return {"type": "http.disconnect"}
        response.chunks_read += 1
        chunk, pending = pending, next(chunks, None)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    async def send(message: Message) -> None:
        messages.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:  # the server would log it; the client got the 500 already
        response.errors.append(exc)
    start = next(m for m in messages if m["type"] == "http.response.start")
    response.status = start["status"]
    response.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    response.body = b"".join(
        m.get("body", b"") for m in messages if m["type"] == "http.response.body"
    )
    return response


@pytest.fixture
async def world(client: httpx.AsyncClient, clean_database: None) -> dict[str, Any]:
    """The victim's todo (with a secret), the attacker's own todo, and a cursor of the
    victim's (their list has a second page)."""
    del clean_database
    secret = f"victim-secret-{uuid.uuid4().hex}"
    victim_todo = await create_todo(client, VICTIM, title=secret, description=secret)
    await create_todo(client, VICTIM, title="older")
    attacker_todo = await create_todo(client, ATTACKER, title="mallory's 100% real_todo")
    page = (await client.get(todos_url(VICTIM), params={"limit": 1})).json()
    return {
        "secret": secret,
        "victim_todo": victim_todo,
        "victim_list": (await client.get(todos_url(VICTIM))).json(),
        "substitute": {
            "<victim_todo_upper>": victim_todo["id"].upper(),
            "<victim_todo>": victim_todo["id"],
            "<victim_cursor>": page["next_cursor"],
            "<victim>": VICTIM,
            "<attacker_todo>": attacker_todo["id"],
            "<attacker>": ATTACKER,
        },
    }


def test_the_table_has_at_least_fifty_rows_covering_every_part_of_a_request() -> None:
    assert len(CASES) >= 50
    assert len({case.name for case in CASES}) == len(CASES)
    parts = {
        "path": [c for c in CASES if c.path not in (LIST, ITEM, VICTIM_ITEM_AS_ATTACKER)],
        "query": [c for c in CASES if c.query],
        "headers": [c for c in CASES if any(name != b"content-type" for name, _ in c.headers)],
        "body": [c for c in CASES if c.body],
    }
    assert all(len(cases) >= 8 for cases in parts.values()), {k: len(v) for k, v in parts.items()}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_hostile_input_gets_the_documented_answer(
    case: Hostile, app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    response = await send_raw(app, case, world["substitute"])

    assert not response.errors, response.errors
    assert response.status == case.status, response.body
    assert response.status < 500
    if response.body:
        assert response.headers["content-type"] == "application/json"
    if case.error_code is not None:
        body = response.json()
        assert body["error_code"] == case.error_code, body
        assert isinstance(body["detail"], str)
        assert body["detail"]
        if case.field is not None:
            assert case.field in [error["field"] for error in body["field_errors"]], body
    assert len(response.headers["x-request-id"]) <= 128
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in response.headers  # CORS is off by default

    # Nothing of the victim's leaks, whatever the answer.
    victim_todo = world["victim_todo"]
    assert world["secret"].encode() not in response.body
    assert victim_todo["id"].encode() not in response.body.lower()
    if response.status < 300 and response.body:
        answer = response.json()
        items = answer.get("items", [answer])
        assert all(item["user_id"] == ATTACKER for item in items), answer

    # And nothing of the victim's changed.
    assert (await client.get(todo_url(VICTIM, victim_todo["id"]))).json() == victim_todo
    assert (await client.get(todos_url(VICTIM))).json() == world["victim_list"]


@pytest.mark.parametrize("case", [c for c in CASES if c.status == 413], ids=str)
async def test_oversized_bodies_are_refused_before_they_are_read(
    case: Hostile, app: FastAPI, world: dict[str, Any]
) -> None:
    """A declared Content-Length over 64 KiB is refused before any of the body is read; a
    streamed body is refused at the chunk that crosses 64 KiB, not at the end of 10 MB."""
    response = await send_raw(app, case, world["substitute"])

    assert response.status == 413
    declared = int(dict(case.headers).get(b"content-length", len(case.body) * (not case.chunks)))
    # 4 chunks of 16 KiB are exactly 64 KiB, which is allowed; the fifth crosses the limit.
    assert response.chunks_read == (0 if declared > MAX_BODY_BYTES else 5)
