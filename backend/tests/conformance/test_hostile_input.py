"""Hostile input, one table: what testers type into Swagger UI and what broken or malicious
clients send, in the path, the query, the headers and the body.

Each request is handed to the app as raw ASGI (exact path bytes, query bytes, header bytes
and body chunks, nothing normalised by a client library) while two users exist: the
victim, whose todo holds a secret, and the attacker, who sends every request. For every
row: no 500; the documented status, and for an error the JSON error body with its
`error_code` (and the offending field for a 422); nothing in the answer belongs to the
victim; and the victim's todo and list are exactly as before.

The victim also has lists (one named with the secret, holding two todos), and the
attacker one of their own: the rows on lists, on `list_id` and on moves aim at them, and
the victim's lists, their counts and each one's manual order must be as before too; a
refused row leaves the attacker's lists and orders as they were.

The client-safety headers and the change feed get rows of their own: malformed `If-Match`
and `If-None-Match` (a 422 naming the header), tags that do not match (a 412), the
victim's tag on the victim's item (a 404, never a 304 nor a 412), malformed
`Idempotency-Key`s (a 422 naming it), the victim's key (the attacker's own new todo, no
replay of the victim's), and forged, truncated or the victim's `since` tokens and `limit`s
out of range on the feed (a 422 naming the parameter).
"""

import base64
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
    # Text the message of `field`'s error must contain: it says what is wrong, readably.
    message: str | None = None

    def __str__(self) -> str:
        return self.name


ITEM = "/api/v1/users/<attacker>/todos/<attacker_todo>"
LIST = "/api/v1/users/<attacker>/todos"
VICTIM_ITEM_AS_ATTACKER = "/api/v1/users/<attacker>/todos/<victim_todo>"
BULK = LIST + "/bulk"
STATS = LIST + "/stats"
PRIORITIES = "must be one of none, low, medium or high"
NOT_AN_INSTANT = "must be an RFC 3339 date and time with an offset"
NOT_A_ZONE = "must be an IANA time zone name"
OTHER_LISTING = "This cursor belongs to another listing"
NO_FILTER = "at least one filter"


def _body(value: Any) -> bytes:
    return orjson.dumps(value)


def post(
    name: str,
    body: bytes,
    status: int,
    error_code: str | None = None,
    path: str = LIST,
    **more: Any,
) -> Hostile:
    return Hostile(
        name, path, status, error_code, method="POST", headers=(JSON,), body=body, **more
    )


def query(
    name: str,
    text: str,
    status: int = 422,
    field: str | None = None,
    message: str | None = None,
    path: str = LIST,
) -> Hostile:
    error = "VALIDATION_ERROR" if status == 422 else None
    return Hostile(name, path, status, error, field, query=text, message=message)


def invalid(
    name: str,
    value: Any,
    field: str,
    message: str | None = None,
    *,
    path: str = LIST,
    method: str = "POST",
    query: str = "",
) -> Hostile:
    """A JSON body (or none, for None) that must be a 422 naming `field`."""
    body = b"" if value is None else _body(value)
    headers = (JSON,) if value is not None else ()
    return Hostile(
        name,
        path,
        422,
        "VALIDATION_ERROR",
        field,
        method=method,
        query=query,
        headers=headers,
        body=body,
        message=message,
    )


def stats(
    name: str, text: str, status: int = 422, field: str | None = None, **more: Any
) -> Hostile:
    return query(name, text, status, field, path=STATS, **more)


def bulk_patch(
    name: str, value: Any, field: str, message: str | None = None, **more: Any
) -> Hostile:
    return invalid(name, value, field, message, method="PATCH", **more)


def bulk_delete(name: str, text: str, field: str, message: str | None = None) -> Hostile:
    return Hostile(
        name, LIST, 422, "VALIDATION_ERROR", field, method="DELETE", query=text, message=message
    )


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
    query(
        "another user's cursor is refused",
        "cursor=<victim_cursor>",
        field="query.cursor",
        message=OTHER_LISTING,
    ),
    query(
        "cursor reused with another sort",
        "sort=due_at&cursor=<attacker_cursor>",
        field="query.cursor",
        message=OTHER_LISTING,
    ),
    query(
        "cursor reused with the same order spelt as sort is accepted",
        "sort=-created_at&cursor=<attacker_cursor>",
        200,
    ),
    query(
        "cursor reused with another filter",
        "is_completed=false&cursor=<attacker_cursor>",
        field="query.cursor",
        message=OTHER_LISTING,
    ),
    query(
        "cursor reused with another tag filter",
        "tag=x&cursor=<attacker_cursor>",
        field="query.cursor",
        message=OTHER_LISTING,
    ),
    # --- query: the planning filters and sorts -------------------------------------------
    query(
        "priority unknown filter", "priority=urgent", field="query.priority.0", message=PRIORITIES
    ),
    query(
        "priority in upper case filter",
        "priority=HIGH",
        field="query.priority.0",
        message=PRIORITIES,
    ),
    query(
        "priority as a number filter", "priority=3", field="query.priority.0", message=PRIORITIES
    ),
    query(
        "priority valid then unknown",
        "priority=low&priority=urgent",
        field="query.priority.1",
        message=PRIORITIES,
    ),
    query(
        "due_before without an offset",
        "due_before=2026-11-27T17:00:00",
        field="query.due_before",
        message=NOT_AN_INSTANT,
    ),
    query(
        "due_after without an offset",
        "due_after=2026-11-27T17:00:00",
        field="query.due_after",
        message=NOT_AN_INSTANT,
    ),
    query(
        "due_after as a date only",
        "due_after=2026-11-27",
        field="query.due_after",
        message=NOT_AN_INSTANT,
    ),
    query(
        "due_before as a string of digits",
        "due_before=1764262800",
        field="query.due_before",
        message=NOT_AN_INSTANT,
    ),
    query(
        "due_before with SQL injection",
        "due_before=2026-11-27T17%3A00%3A00Z%27%3B%20DROP%20TABLE%20todos",
        field="query.due_before",
        message=NOT_AN_INSTANT,
    ),
    query(
        "due_after with NUL",
        "due_after=2026-11-27T17:00:00Z%00",
        field="query.due_after",
        message=NOT_AN_INSTANT,
    ),
    query(
        "due_before past the year 9999 in UTC",
        "due_before=9999-12-31T23:00:00-05:00",
        field="query.due_before",
        message="before the year 10000",
    ),
    query("overdue neither true nor false", "overdue=maybe", field="query.overdue"),
    query(
        "tag of 41 characters filter", "tag=" + "x" * 41, field="query.tag.0", message="at most 40"
    ),
    query("tag empty filter", "tag=", field="query.tag.0", message="empty"),
    query("tag blank filter", "tag=ok&tag=%E3%80%80%20", field="query.tag.1", message="blank"),
    query("tag with NUL filter", "tag=a%00b", field="query.tag.0", message="NUL"),
    query(
        "21 tags filter",
        "&".join(f"tag=t{i}" for i in range(21)),
        field="query.tag",
        message="at most 20",
    ),
    query("tag with SQL injection", "tag=%27%20OR%20%271%27%3D%271", 200),
    query(
        "sort unknown",
        "sort=bogus",
        field="query.sort",
        message="sort must be one of -created_at, created_at",
    ),
    query("sort with SQL injection", "sort=due_at%3B%20DROP%20TABLE%20todos", field="query.sort"),
    query("sort by a column that is not a sort", "sort=user_id", field="query.sort"),
    query(
        "sort and order together",
        "sort=due_at&order=asc",
        field="query.order",
        message="Send sort or order, not both",
    ),
    query(
        "sort and order together, meaning the same",
        "sort=-created_at&order=desc",
        field="query.order",
        message="Send sort or order, not both",
    ),
    # --- stats ------------------------------------------------------------------------
    stats("tz of another planet", "tz=Mars/Olympus", field="query.tz", message=NOT_A_ZONE),
    stats("tz as a path traversal", "tz=../etc/passwd", field="query.tz", message=NOT_A_ZONE),
    stats(
        "tz as an absolute path",
        "tz=%2Fusr%2Fshare%2Fzoneinfo%2FUTC",
        field="query.tz",
        message=NOT_A_ZONE,
    ),
    stats("tz of 65 characters", "tz=Europe/" + "A" * 58, field="query.tz", message="at most 64"),
    stats("tz of 10,000 characters", "tz=" + "A" * 10_000, field="query.tz", message="at most 64"),
    stats("tz with NUL", "tz=UTC%00", field="query.tz", message=NOT_A_ZONE),
    stats("tz empty", "tz=", field="query.tz", message=NOT_A_ZONE),
    stats("tz in the wrong case", "tz=europe/paris", field="query.tz", message=NOT_A_ZONE),
    stats("tz as an offset", "tz=%2B02:00", field="query.tz", message=NOT_A_ZONE),
    stats("stats with an unknown priority", "priority=urgent", field="query.priority.0"),
    stats(
        "stats with a naive due_before", "due_before=2026-11-27T17:00:00", field="query.due_before"
    ),
    stats("stats searching for the victim's secret", "q=victim-secret", 200),
    stats("stats with user_id in the query string is ignored", "user_id=victim", 200),
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
    # --- body: the planning fields ----------------------------------------------------
    invalid("priority unknown", {"title": "x", "priority": "urgent"}, "body.priority", PRIORITIES),
    invalid("priority as a number", {"title": "x", "priority": 3}, "body.priority", PRIORITIES),
    invalid("priority null", {"title": "x", "priority": None}, "body.priority", PRIORITIES),
    # Enum values are exact: `HIGH` is refused, with the values spelled out.
    invalid(
        "priority in upper case", {"title": "x", "priority": "HIGH"}, "body.priority", PRIORITIES
    ),
    invalid("priority as an array", {"title": "x", "priority": ["high"]}, "body.priority"),
    invalid(
        "due_at without an offset",
        {"title": "x", "due_at": "2026-11-27T17:00:00"},
        "body.due_at",
        NOT_AN_INSTANT,
    ),
    invalid(
        "due_at as a date only",
        {"title": "x", "due_at": "2026-11-27"},
        "body.due_at",
        NOT_AN_INSTANT,
    ),
    invalid(
        "due_at as a string of digits",
        {"title": "x", "due_at": "1764262800"},
        "body.due_at",
        NOT_AN_INSTANT,
    ),
    invalid(
        "due_at as a JSON number",
        {"title": "x", "due_at": 1764262800},
        "body.due_at",
        NOT_AN_INSTANT,
    ),
    invalid("due_at as a float", {"title": "x", "due_at": 0.5}, "body.due_at", NOT_AN_INSTANT),
    invalid("due_at as true", {"title": "x", "due_at": True}, "body.due_at", NOT_AN_INSTANT),
    invalid(
        "due_at past the year 9999 in UTC",
        {"title": "x", "due_at": "9999-12-31T23:00:00-05:00"},
        "body.due_at",
        "before the year 10000",
    ),
    invalid(
        "21 tags",
        {"title": "x", "tags": [f"t{i}" for i in range(21)]},
        "body.tags",
        "at most 20",
    ),
    invalid(
        "tag of 41 characters", {"title": "x", "tags": ["x" * 41]}, "body.tags.0", "at most 40"
    ),
    invalid("tag with NUL", {"title": "x", "tags": ["ok", "a\u0000b"]}, "body.tags.1", "NUL"),
    invalid("tag blank", {"title": "x", "tags": ["ok", " \u3000\t"]}, "body.tags.1", "blank"),
    invalid("tag empty", {"title": "x", "tags": [""]}, "body.tags.0"),
    invalid("tags as a string", {"title": "x", "tags": "a,b"}, "body.tags", "array"),
    invalid("tags as an object", {"title": "x", "tags": {"a": 1}}, "body.tags", "array"),
    invalid("tag as a number", {"title": "x", "tags": [1]}, "body.tags.0"),
    invalid("tags null", {"title": "x", "tags": None}, "body.tags"),
    post(
        "completed_at sent by the client is ignored",
        _body({"title": "x", "completed_at": "2020-01-01T00:00:00Z"}),
        201,
    ),
    invalid(
        "is_completed misspelt as completed",
        {"title": "x", "completed": True},
        "body.completed",
        "did you mean is_completed",
    ),
    invalid(
        "replace own todo with an unknown priority",
        {"title": "x", "description": None, "is_completed": False, "priority": "urgent"},
        "body.priority",
        PRIORITIES,
        path=ITEM,
        method="PUT",
    ),
    invalid(
        "patch own todo with 21 tags",
        {"tags": [f"t{i}" for i in range(21)]},
        "body.tags",
        "at most 20",
        path=ITEM,
        method="PATCH",
    ),
    invalid(
        "patch own todo with a naive due_at",
        {"due_at": "2026-11-27T17:00:00"},
        "body.due_at",
        NOT_AN_INSTANT,
        path=ITEM,
        method="PATCH",
    ),
    # --- body: bulk create ------------------------------------------------------------
    invalid(
        "bulk create of 101 todos",
        {"todos": [{"title": f"t{i}"} for i in range(101)]},
        "body.todos",
        "1 to 100",
        path=BULK,
    ),
    invalid("bulk create of 0 todos", {"todos": []}, "body.todos", "1 to 100", path=BULK),
    invalid(
        "bulk create with a bad title in the fourth todo",
        {"todos": [{"title": "a"}, {"title": "b"}, {"title": "c"}, {"title": " "}]},
        "body.todos.3.title",
        "must not be blank",
        path=BULK,
    ),
    invalid(
        "bulk create with a bad priority in the first todo",
        {"todos": [{"title": "a", "priority": "urgent"}, {"title": "b"}]},
        "body.todos.0.priority",
        PRIORITIES,
        path=BULK,
    ),
    invalid(
        "bulk create with a naive due_at in the last todo",
        {"todos": [{"title": "a"}, {"title": "b", "due_at": "2026-11-27T17:00"}]},
        "body.todos.1.due_at",
        NOT_AN_INSTANT,
        path=BULK,
    ),
    invalid(
        "bulk create with todos as an object",
        {"todos": {"title": "a"}},
        "body.todos",
        "array",
        path=BULK,
    ),
    invalid("bulk create with todos null", {"todos": None}, "body.todos", path=BULK),
    invalid("bulk create of a bare array", [{"title": "a"}], "body", path=BULK),
    invalid("bulk create without a body", None, "body", path=BULK),
    invalid(
        "bulk create with an unknown top-level key",
        {"todos": [{"title": "a"}], "owner": "<victim>"},
        "body.owner",
        path=BULK,
    ),
    post(
        "bulk create of a todo of 20,000 nested arrays",
        b'{"todos": [' + b"[" * 20_000 + b"]" * 20_000 + b"]}",
        422,
        "VALIDATION_ERROR",
        field="body",
        path=BULK,
    ),
    # --- body and query: bulk change -----------------------------------------------------
    bulk_patch("bulk patch with an empty body", {}, "body", "at least one of"),
    bulk_patch(
        "bulk patch with only read-only fields",
        {"user_id": "<victim>", "id": "<victim_todo>"},
        "body",
        "at least one of",
    ),
    bulk_patch("bulk patch without a body", None, "body"),
    bulk_patch("bulk patch with a JSON array", [{"is_completed": True}], "body"),
    bulk_patch("bulk patch with an unknown field", {"completed": True}, "body.completed"),
    bulk_patch("bulk patch of a title (not bulk-changeable)", {"title": "pwned"}, "body.title"),
    bulk_patch(
        "bulk patch with is_completed as a string", {"is_completed": "true"}, "body.is_completed"
    ),
    bulk_patch("bulk patch with priority null", {"priority": None}, "body.priority", PRIORITIES),
    bulk_patch(
        "bulk patch with 21 tags",
        {"tags": [f"t{i}" for i in range(21)]},
        "body.tags",
        "at most 20",
    ),
    bulk_patch(
        "bulk patch with an unknown query parameter",
        {"is_completed": True},
        "query.user",
        "not a filter",
        query="user=victim",
    ),
    bulk_patch(
        "bulk patch with user_id in the query string",
        {"is_completed": True},
        "query.user_id",
        "not a filter",
        query="user_id=victim",
    ),
    bulk_patch(
        "bulk patch with a misspelt filter",
        {"priority": "high"},
        "query.is_complete",
        "not a filter",
        query="is_complete=false",
    ),
    bulk_patch(
        "bulk patch with sort (not a filter)",
        {"priority": "high"},
        "query.sort",
        "not a filter",
        query="sort=due_at",
    ),
    bulk_patch(
        "bulk patch with an unknown priority filter",
        {"priority": "high"},
        "query.priority.0",
        PRIORITIES,
        query="priority=urgent",
    ),
    bulk_delete("bulk delete without a filter", "", "query", NO_FILTER),
    bulk_delete("bulk delete with only an empty search", "q=", "query", NO_FILTER),
    bulk_delete(
        "bulk delete with only an unknown parameter", "all=true", "query.all", "not a filter"
    ),
    bulk_delete(
        "bulk delete with user_id in the query string",
        "is_completed=true&user_id=victim",
        "query.user_id",
        "not a filter",
    ),
    bulk_delete(
        "bulk delete with a misspelt filter",
        "is_completd=true",
        "query.is_completd",
        "did you mean is_completed",
    ),
    bulk_delete(
        "bulk delete with limit (not a filter)", "q=x&limit=1", "query.limit", "not a filter"
    ),
    bulk_delete(
        "bulk delete with a naive due_before",
        "due_before=2026-11-27T17:00:00",
        "query.due_before",
        NOT_AN_INSTANT,
    ),
    bulk_delete("bulk delete with overdue=maybe", "overdue=maybe", "query.overdue"),
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
    post(
        "bulk create naming the victim in every todo creates the attacker's",
        _body({"todos": [{"title": "x", "user_id": "<victim>", "id": "<victim_todo>"}] * 2}),
        201,
        path=BULK,
    ),
    post(
        "bulk create with the victim's user_id beside the todos is ignored",
        _body({"todos": [{"title": "x"}], "user_id": "<victim>"}),
        201,
        path=BULK,
    ),
    Hostile(
        "bulk patch naming the victim in the body changes only the attacker's",
        LIST,
        200,
        method="PATCH",
        headers=(JSON,),
        body=_body({"is_completed": True, "user_id": "<victim>"}),
    ),
    Hostile(
        "bulk patch of tags searching for the victim's secret",
        LIST,
        200,
        method="PATCH",
        query="q=victim-secret",
        headers=(JSON,),
        body=_body({"tags": ["pwned"]}),
    ),
    Hostile(
        "bulk delete searching for the victim's secret",
        LIST,
        200,
        method="DELETE",
        query="q=victim-secret",
    ),
    Hostile(
        "bulk delete with a filter SQL injection",
        LIST,
        200,
        method="DELETE",
        query="q=%27%20OR%20%271%27%3D%271",
    ),
]

# --- lists, todos in lists, and moves -----------------------------------------------------
LISTS = "/api/v1/users/<attacker>/lists"
OWN_LIST = LISTS + "/<attacker_list>"
VICTIM_LIST_AS_ATTACKER = LISTS + "/<victim_list>"
MOVE = ITEM + "/move"
VICTIM_MOVE_AS_ATTACKER = VICTIM_ITEM_AS_ATTACKER + "/move"
NOT_YOUR_LIST = "must be the id of one of your lists"
NOT_YOUR_NEIGHBOUR = "must be the id of one of your todos in the list"
NOT_A_UUID = "must be a UUID"
NOT_A_LIST_FILTER = "list_id must be a list's id"


def list_path(name: str, list_id: str, status: int = 422, method: str = "GET") -> Hostile:
    error = {422: "VALIDATION_ERROR", 404: "NOT_FOUND"}[status]
    field = "path.list_id" if status == 422 else None
    return Hostile(name, f"{LISTS}/{list_id}", status, error, field, method=method)


def victim_list(name: str, method: str, query: str = "", body: Any = None) -> Hostile:
    """The victim's list through the attacker's path: a 404, as for no list at all."""
    headers = (JSON,) if body is not None else ()
    raw = b"" if body is None else _body(body)
    return Hostile(
        name,
        VICTIM_LIST_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method=method,
        query=query,
        headers=headers,
        body=raw,
    )


def move(name: str, value: Any, field: str, message: str | None = None) -> Hostile:
    """A move of the attacker's own todo that must be a 422 naming `field`."""
    return invalid(name, value, field, message, path=MOVE)


LISTS_AND_MOVES = [
    # --- path: list_id -------------------------------------------------------------------
    list_path("path list_id malformed", "not-a-uuid"),
    list_path("path list_id with NUL", "%00"),
    list_path("list_id of 1000 characters", "f" * 1000),
    list_path("path list_id with SQL injection", "1%20OR%201%3D1"),
    list_path("list_id a uuid with a trailing NUL", "<attacker_list>%00"),
    list_path("list_id of the victim in upper case", "<victim_list_upper>", 404),
    list_path("list_id nobody has", str(uuid.UUID(int=1)), 404),
    victim_list("get the victim's list", "GET"),
    victim_list("rename the victim's list", "PATCH", body={"name": "pwned"}),
    victim_list(
        "rename the victim's list to a name the attacker has", "PATCH", body={"name": "Work"}
    ),
    victim_list("delete the victim's list", "DELETE"),
    victim_list("delete the victim's list and its todos", "DELETE", query="todos=delete"),
    victim_list("delete the victim's list, unlisting its todos", "DELETE", query="todos=unlist"),
    # --- query: lists --------------------------------------------------------------------
    query("lists limit zero", "limit=0", field="query.limit", path=LISTS),
    query("lists limit huge", "limit=" + "9" * 40, field="query.limit", path=LISTS),
    query("lists cursor forged", "cursor=YXNjOjE6eno", field="query.cursor", path=LISTS),
    query(
        "lists cursor of another user",
        "cursor=<victim_lists_cursor>",
        field="query.cursor",
        path=LISTS,
    ),
    query(
        "a todos cursor on the lists", "cursor=<attacker_cursor>", field="query.cursor", path=LISTS
    ),
    query(
        "lists with an unknown parameter names the lists' parameters",
        "x=1",
        field="query.x",
        message="limit",
        path=LISTS,
    ),
    query("lists with user_id in the query", "user_id=victim", field="query.user_id", path=LISTS),
    Hostile(
        "delete a list with ?todos=bogus",
        OWN_LIST,
        422,
        "VALIDATION_ERROR",
        "query.todos",
        method="DELETE",
        query="todos=bogus",
        message="must be one of delete or unlist",
    ),
    Hostile(
        "delete a list with ?todos= empty",
        OWN_LIST,
        422,
        "VALIDATION_ERROR",
        "query.todos",
        method="DELETE",
        query="todos=",
    ),
    Hostile(
        "delete a list with ?todos=DELETE in upper case",
        OWN_LIST,
        422,
        "VALIDATION_ERROR",
        "query.todos",
        method="DELETE",
        query="todos=DELETE",
    ),
    Hostile(
        "delete a list with ?todos= holding SQL injection",
        OWN_LIST,
        422,
        "VALIDATION_ERROR",
        "query.todos",
        method="DELETE",
        query="todos=delete%27%3B%20DROP%20TABLE%20lists",
    ),
    Hostile(
        "delete a list with ?todo=delete (misspelt) suggests todos",
        OWN_LIST,
        422,
        "VALIDATION_ERROR",
        "query.todo",
        method="DELETE",
        query="todo=delete",
        message="todos",
    ),
    # --- body: lists ---------------------------------------------------------------------
    invalid(
        "list name of 101 characters", {"name": "x" * 101}, "body.name", "at most 100", path=LISTS
    ),
    invalid("list name of 10,000 characters", {"name": "x" * 10_000}, "body.name", path=LISTS),
    invalid("list name with NUL", {"name": "a\u0000b"}, "body.name", "NUL", path=LISTS),
    invalid(
        "list name of zero-width spaces only",
        {"name": "\u200b\u200d\ufeff"},
        "body.name",
        "must not be blank",
        path=LISTS,
    ),
    invalid("list name of spaces only", {"name": " \t\u3000 "}, "body.name", "blank", path=LISTS),
    invalid("list name empty", {"name": ""}, "body.name", path=LISTS),
    invalid("list name null", {"name": None}, "body.name", "null", path=LISTS),
    invalid("list name a number", {"name": 5}, "body.name", "must be a string", path=LISTS),
    invalid("list name a list", {"name": ["Work"]}, "body.name", "must be a string", path=LISTS),
    invalid("list without a name", {}, "body.name", path=LISTS),
    invalid(
        "list with an extra field",
        {"name": "n", "colour": "red"},
        "body.colour",
        "is not a field",
        path=LISTS,
    ),
    invalid(
        "list body an array shows a list's example", [{"name": "n"}], "body", '"name"', path=LISTS
    ),
    invalid("list without a body shows a list's example", None, "body", '"name"', path=LISTS),
    post(
        "list name with a lone surrogate escape",
        b'{"name": "\\ud800"}',
        422,
        "VALIDATION_ERROR",
        field="body",
        path=LISTS,
    ),
    post(
        "list name in invalid UTF-8",
        b'{"name": "\xff\xfe"}',
        422,
        "VALIDATION_ERROR",
        field="body",
        path=LISTS,
    ),
    post(
        "list name the attacker already has, in another case",
        _body({"name": "WORK"}),
        409,
        "CONFLICT",
        path=LISTS,
    ),
    post(
        "list name the victim has is the attacker's own to take",
        _body({"name": "Other"}),
        201,
        path=LISTS,
    ),
    post(
        "list naming the victim and the victim's list in the body is the attacker's",
        _body({"name": "n", "user_id": "<victim>", "id": "<victim_list>", "todo_count": 9}),
        201,
        path=LISTS,
    ),
    invalid(
        "rename a list to 101 characters",
        {"name": "x" * 101},
        "body.name",
        "at most 100",
        path=OWN_LIST,
        method="PATCH",
    ),
    invalid(
        "rename a list to zero-width spaces",
        {"name": "\u200b"},
        "body.name",
        "blank",
        path=OWN_LIST,
        method="PATCH",
    ),
    invalid(
        "rename a list with a misspelt field",
        {"nmae": "x"},
        "body.nmae",
        "did you mean name?",
        path=OWN_LIST,
        method="PATCH",
    ),
    # --- todos in lists ------------------------------------------------------------------
    invalid(
        "create a todo in the victim's list",
        {"title": "x", "list_id": "<victim_list>"},
        "body.list_id",
        NOT_YOUR_LIST,
    ),
    invalid(
        "create a todo in a list nobody has",
        {"title": "x", "list_id": str(uuid.UUID(int=1))},
        "body.list_id",
        NOT_YOUR_LIST,
    ),
    invalid(
        "create a todo with list_id 'none'",
        {"title": "x", "list_id": "none"},
        "body.list_id",
        NOT_A_UUID,
    ),
    invalid("create a todo with list_id empty", {"title": "x", "list_id": ""}, "body.list_id"),
    invalid("create a todo with list_id a number", {"title": "x", "list_id": 7}, "body.list_id"),
    invalid(
        "create a todo with list_id an object",
        {"title": "x", "list_id": {"id": "<attacker_list>"}},
        "body.list_id",
    ),
    invalid(
        "patch a todo into the victim's list",
        {"list_id": "<victim_list>"},
        "body.list_id",
        NOT_YOUR_LIST,
        path=ITEM,
        method="PATCH",
    ),
    invalid(
        "replace a todo into the victim's list",
        {"title": "x", "description": None, "is_completed": False, "list_id": "<victim_list>"},
        "body.list_id",
        NOT_YOUR_LIST,
        path=ITEM,
        method="PUT",
    ),
    invalid(
        "bulk create with the victim's list in the second todo",
        {
            "todos": [
                {"title": "a", "list_id": "<attacker_list>"},
                {"title": "b", "list_id": "<victim_list>"},
            ]
        },
        "body.todos.1.list_id",
        NOT_YOUR_LIST,
        path=BULK,
    ),
    Hostile(
        "patch the victim's todo into the attacker's list",
        VICTIM_ITEM_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method="PATCH",
        headers=(JSON,),
        body=_body({"list_id": "<attacker_list>"}),
    ),
    query(
        "sort=position without list_id",
        "sort=position",
        field="query.sort",
        message="list_id",
    ),
    query(
        "list_id=NONE in upper case",
        "list_id=NONE",
        field="query.list_id",
        message=NOT_A_LIST_FILTER,
    ),
    query("list_id empty", "list_id=", field="query.list_id", message=NOT_A_LIST_FILTER),
    query("list_id with NUL", "list_id=none%00", field="query.list_id"),
    query("list_id null", "list_id=null", field="query.list_id", message=NOT_A_LIST_FILTER),
    query("list_id malformed", "list_id=not-a-uuid", field="query.list_id"),
    query(
        "list_id with SQL injection",
        "list_id=none%27%20OR%20%271%27%3D%271",
        field="query.list_id",
    ),
    query("list_id of the victim's list shows nothing", "list_id=<victim_list>", 200),
    query(
        "list_id of the victim's list in position order shows nothing",
        "list_id=<victim_list>&sort=position",
        200,
    ),
    query("sort=position with list_id=none", "list_id=none&sort=position", 200),
    query(
        "sort=position with order",
        "list_id=none&sort=position&order=asc",
        field="query.order",
    ),
    query(
        "the victim's position cursor on the same list",
        "list_id=<victim_list>&sort=position&cursor=<victim_position_cursor>",
        field="query.cursor",
        message=OTHER_LISTING,
    ),
    query(
        "the victim's position cursor on the attacker's own list",
        "list_id=<attacker_list>&sort=position&cursor=<victim_position_cursor>",
        field="query.cursor",
        message=OTHER_LISTING,
    ),
    stats("stats of the victim's list count nothing", "list_id=<victim_list>", 200),
    stats("stats with list_id=NONE", "list_id=NONE", field="query.list_id"),
    Hostile(
        "bulk patch of the victim's list changes nothing",
        LIST,
        200,
        method="PATCH",
        query="list_id=<victim_list>",
        headers=(JSON,),
        body=_body({"is_completed": True}),
    ),
    Hostile(
        "bulk delete of the victim's list deletes nothing",
        LIST,
        200,
        method="DELETE",
        query="list_id=<victim_list>",
    ),
    bulk_delete("bulk delete with list_id=NONE", "list_id=NONE", "query.list_id"),
    # --- body: moves ---------------------------------------------------------------------
    move(
        "move into the victim's list", {"list_id": "<victim_list>"}, "body.list_id", NOT_YOUR_LIST
    ),
    move(
        "move into the victim's list in upper case",
        {"list_id": "<victim_list_upper>"},
        "body.list_id",
        NOT_YOUR_LIST,
    ),
    move(
        "move into the victim's list next to the victim's todo",
        {"list_id": "<victim_list>", "after": "<victim_listed_todo>"},
        "body.list_id",
        NOT_YOUR_LIST,
    ),
    move(
        "move after the victim's todo", {"after": "<victim_todo>"}, "body.after", NOT_YOUR_NEIGHBOUR
    ),
    move(
        "move before the victim's listed todo",
        {"before": "<victim_listed_todo>"},
        "body.before",
        NOT_YOUR_NEIGHBOUR,
    ),
    move(
        "move into the attacker's list after the victim's todo",
        {"list_id": "<attacker_list>", "after": "<victim_listed_todo>"},
        "body.after",
        NOT_YOUR_NEIGHBOUR,
    ),
    move(
        "move after a todo nobody has",
        {"after": str(uuid.UUID(int=1))},
        "body.after",
        NOT_YOUR_NEIGHBOUR,
    ),
    move(
        "move after an own todo of another list",
        {"list_id": "<attacker_list>", "after": "<attacker_todo_in_no_list>"},
        "body.after",
        NOT_YOUR_NEIGHBOUR,
    ),
    move("move after itself", {"after": "<attacker_todo>"}, "body.after", "itself"),
    move("move before itself", {"before": "<attacker_todo>"}, "body.before", "itself"),
    move("move with after malformed", {"after": "not-a-uuid"}, "body.after", NOT_A_UUID),
    move("move with before a number", {"before": 5}, "body.before", NOT_A_UUID),
    move("move with after a list of ids", {"after": ["<attacker_todo>"]}, "body.after"),
    move("move with after holding NUL", {"after": "\u0000"}, "body.after"),
    move("move with list_id 'none'", {"list_id": "none"}, "body.list_id", NOT_A_UUID),
    move("move with list_id empty", {"list_id": ""}, "body.list_id"),
    move("move with list_id true", {"list_id": True}, "body.list_id"),
    move(
        "move with an extra field",
        {"after": None, "position": 0},
        "body.position",
        "is not a field",
    ),
    move(
        "move with the victim's user_id", {"user_id": "<victim>"}, "body.user_id", "is not a field"
    ),
    move("move body an array", [], "body"),
    move("move body a string", "after", "body"),
    move("move without a body shows a move's example", None, "body", "after"),
    Hostile(
        "move the victim's todo",
        VICTIM_MOVE_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method="POST",
        headers=(JSON,),
        body=_body({}),
    ),
    Hostile(
        "move the victim's todo into the attacker's list",
        VICTIM_MOVE_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method="POST",
        headers=(JSON,),
        body=_body({"list_id": "<attacker_list>"}),
    ),
    Hostile(
        "move the victim's todo next to the attacker's other todo",
        VICTIM_MOVE_AS_ATTACKER,
        404,
        "NOT_FOUND",
        method="POST",
        headers=(JSON,),
        body=_body({"list_id": None, "before": "<attacker_todo_in_no_list>"}),
    ),
    Hostile(
        "move with a malformed todo_id",
        LIST + "/not-a-uuid/move",
        422,
        "VALIDATION_ERROR",
        "path.todo_id",
        method="POST",
        headers=(JSON,),
        body=_body({}),
    ),
    post("move an own todo to the end of its list", _body({}), 200, path=MOVE),
    post(
        "move an own todo into an own list, ignoring nothing",
        _body({"list_id": "<attacker_list>", "after": None, "before": None}),
        200,
        path=MOVE,
    ),
]
CASES += LISTS_AND_MOVES

# --- conditional requests, idempotency keys and the change feed ---------------------------
CHANGES = "/api/v1/users/<attacker>/changes"
TITLE_BODY = _body({"title": "pwned"})
TEN_KB_OF_TAGS = b", ".join([b'"3q2-7w"'] * 1100)  # well-formed, and none the current one
OTHER_FEED = "another user's feed"
TOKEN = "previous answer of this feed"


def if_match(
    name: str,
    value: bytes,
    status: int = 422,
    *,
    path: str = ITEM,
    method: str = "PATCH",
    body: bytes = TITLE_BODY,
) -> Hostile:
    """A write with `If-Match: value`: a 422 naming the header unless `status` says
    otherwise (a 412 for a tag that does not match, a 404 for the victim's item)."""
    error = {422: "VALIDATION_ERROR", 412: "PRECONDITION_FAILED", 404: "NOT_FOUND"}.get(status)
    return Hostile(
        name,
        path,
        status,
        error,
        "header.If-Match" if status == 422 else None,
        method=method,
        headers=((JSON, (b"if-match", value)) if body else ((b"if-match", value),)),
        body=body,
    )


def if_none_match(name: str, value: bytes, status: int = 422, path: str = ITEM) -> Hostile:
    """A GET with `If-None-Match: value`: a 422 naming the header unless `status` says
    otherwise (the item, or a 404 for the victim's: never a 304 of it)."""
    error = {422: "VALIDATION_ERROR", 404: "NOT_FOUND"}.get(status)
    field = "header.If-None-Match" if status == 422 else None
    return Hostile(name, path, status, error, field, headers=((b"if-none-match", value),))


def keyed(
    name: str,
    key: bytes,
    status: int = 422,
    *,
    path: str = LIST,
    body: bytes = _body({"title": "keyed"}),
) -> Hostile:
    """A POST with `Idempotency-Key: key`: a 422 naming the header unless `status` says
    otherwise."""
    error = "VALIDATION_ERROR" if status == 422 else None
    field = "header.Idempotency-Key" if status == 422 else None
    headers = (JSON, (b"idempotency-key", key))
    return Hostile(name, path, status, error, field, method="POST", headers=headers, body=body)


def changes(name: str, text: str, field: str | None = None, message: str | None = None) -> Hostile:
    """A query of the attacker's change feed: a 422 naming `field`, or a 200 without."""
    return query(name, text, 422 if field else 200, field, message, path=CHANGES)


CONDITIONAL_AND_KEYS = [
    # --- If-Match ------------------------------------------------------------------------
    if_match("If-Match without quotes", b"3q2-7w"),
    if_match("If-Match unterminated", b'"3q2-7w'),
    if_match("If-Match with NUL", b'"3q2\x007w"'),
    if_match("If-Match with NUL after an unterminated tag", b'"3q2\x00'),
    if_match("If-Match W/ alone", b"W/"),
    if_match("If-Match empty", b""),
    if_match("If-Match of commas only", b", ,"),
    if_match("If-Match with a tag and garbage after it", b'"<attacker_etag>" junk'),
    if_match("If-Match of two stars", b"*, *x"),
    if_match("If-Match with a tag in single quotes", b"'3q2-7w'"),
    if_match("If-Match with non-ASCII bytes in a tag", '"caf\u00e9"'.encode()),
    if_match("If-Match of 10 kB of tags, the last unterminated", TEN_KB_OF_TAGS + b', "x'),
    if_match("If-Match of 10 kB of tags, none current", TEN_KB_OF_TAGS, 412),
    if_match("If-Match of the attacker's tag, weak", b'W/"<attacker_etag>"', 412),
    if_match("If-Match of the victim's tag on the attacker's todo", b'"<victim_etag>"', 412),
    if_match(
        "If-Match of the victim's tag on the victim's todo",
        b'"<victim_etag>"',
        404,
        path=VICTIM_ITEM_AS_ATTACKER,
    ),
    if_match(
        "If-Match * deleting the victim's todo",
        b"*",
        404,
        path=VICTIM_ITEM_AS_ATTACKER,
        method="DELETE",
        body=b"",
    ),
    if_match(
        "If-Match of the victim's tag toggling the victim's todo",
        b'"<victim_etag>"',
        404,
        path=VICTIM_ITEM_AS_ATTACKER + "/complete",
        body=b"",
    ),
    if_match("If-Match of the attacker's tag, current", b'"<attacker_etag>"', 200),
    if_match("If-Match unterminated on a delete", b'"x', method="DELETE", body=b""),
    if_match("If-Match unterminated on a toggle", b'"x', path=ITEM + "/complete", body=b""),
    if_match("If-Match without quotes on a move", b"x", method="POST", path=MOVE, body=b"{}"),
    if_match(
        "If-Match without quotes on a replace",
        b"x",
        method="PUT",
        body=_body({"title": "x", "description": None, "is_completed": False}),
    ),
    if_match("If-Match W/ alone on a list rename", b"W/", path=OWN_LIST, body=_body({"name": "n"})),
    if_match(
        "If-Match with NUL on a list delete", b'"\x00"', path=OWN_LIST, method="DELETE", body=b""
    ),
    if_match(
        "If-Match of the victim's tag on the victim's list",
        b'"<victim_list_etag>"',
        404,
        path=VICTIM_LIST_AS_ATTACKER,
        body=_body({"name": "pwned"}),
    ),
    # --- If-None-Match -------------------------------------------------------------------
    if_none_match("If-None-Match without quotes", b"3q2-7w"),
    if_none_match("If-None-Match unterminated", b'"3q2-7w'),
    if_none_match("If-None-Match with NUL", b'"\x00"'),
    if_none_match("If-None-Match W/ alone", b"W/"),
    if_none_match("If-None-Match W/ without quotes", b"W/3q2-7w"),
    if_none_match("If-None-Match of 10 kB of tags, the last bare", TEN_KB_OF_TAGS + b", x"),
    if_none_match("If-None-Match of 10 kB of tags, none current", TEN_KB_OF_TAGS, 200),
    if_none_match("If-None-Match unterminated on a list", b'"x', path=OWN_LIST),
    if_none_match(
        "If-None-Match of the victim's tag on the victim's todo is no 304",
        b'"<victim_etag>"',
        404,
        path=VICTIM_ITEM_AS_ATTACKER,
    ),
    if_none_match(
        "If-None-Match * on the victim's todo is no 304", b"*", 404, path=VICTIM_ITEM_AS_ATTACKER
    ),
    if_none_match(
        "If-None-Match of the victim's list tag on the victim's list is no 304",
        b'"<victim_list_etag>"',
        404,
        path=VICTIM_LIST_AS_ATTACKER,
    ),
    # --- Idempotency-Key -----------------------------------------------------------------
    keyed("Idempotency-Key of 256 characters", b"k" * 256),
    keyed("Idempotency-Key of 256 characters, quoted", b'"' + b"k" * 256 + b'"'),
    keyed("Idempotency-Key of 255 characters", b"k" * 255, 201),
    keyed("Idempotency-Key with a space", b"my key"),
    keyed("Idempotency-Key with a space, quoted", b'"my key"'),
    keyed("Idempotency-Key with non-ASCII bytes", "cl\u00e9".encode()),
    keyed("Idempotency-Key with invalid UTF-8", b"k\xff\xfe"),
    keyed("Idempotency-Key with NUL", b"k\x00"),
    keyed("Idempotency-Key empty", b""),
    keyed("Idempotency-Key of empty quotes", b'""'),
    keyed("Idempotency-Key with a quote inside", b'"a"b"'),
    keyed("Idempotency-Key with a backslash", b"a\\b"),
    keyed("Idempotency-Key with a tab inside", b"a\tb"),
    keyed(
        "Idempotency-Key of 256 characters on a bulk create",
        b"k" * 256,
        path=BULK,
        body=_body({"todos": [{"title": "x"}]}),
    ),
    keyed(
        "Idempotency-Key with a space on a list create",
        b"my key",
        path=LISTS,
        body=_body({"name": "Keyed"}),
    ),
    keyed(
        "Idempotency-Key with non-ASCII bytes on a move", "\u00e9".encode(), path=MOVE, body=b"{}"
    ),
    keyed(
        "the victim's Idempotency-Key and body are a new todo of the attacker's",
        b"<victim_key>",
        201,
    ),
    keyed(
        "the victim's Idempotency-Key with another body is a new todo of the attacker's",
        b"<victim_key>",
        201,
        body=_body({"title": "other"}),
    ),
    # --- the change feed -----------------------------------------------------------------
    changes("the attacker's own feed", ""),
    changes("the attacker's own feed from their token", "since=<attacker_since>&limit=1"),
    changes("since of another user", "since=<victim_since>", "query.since", OTHER_FEED),
    changes(
        "since of another user, one page at a time", "since=<victim_since>&limit=1", "query.since"
    ),
    changes("since truncated", "since=<attacker_since_truncated>", "query.since", TOKEN),
    changes(
        "since forged with its binding flipped", "since=<attacker_since_flipped>", "query.since"
    ),
    changes("since forged from zeros", "since=" + "A" * 40, "query.since", TOKEN),
    changes("since forged from a cursor", "since=<attacker_cursor>", "query.since"),
    changes("since with characters outside base64url", "since=%21%21%21%21", "query.since"),
    changes("since with NUL", "since=<attacker_since>%00", "query.since"),
    changes("since with a padding sign", "since=<attacker_since>%3D", "query.since"),
    changes("since of 1025 characters", "since=" + "A" * 1025, "query.since"),
    changes("since empty", "since=", "query.since"),
    changes("since with SQL injection", "since=%27%20OR%20%271%27%3D%271", "query.since"),
    changes("limit=0 on the feed", "limit=0", "query.limit"),
    changes("limit=1001 on the feed", "limit=1001", "query.limit"),
    changes("limit negative on the feed", "limit=-1", "query.limit"),
    changes("limit huge on the feed", "limit=" + "9" * 40, "query.limit"),
    changes("limit=1000 on the feed", "limit=1000"),
    changes("user_id in the feed's query", "user_id=victim", "query.user_id"),
]
CASES += CONDITIONAL_AND_KEYS


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
    headers = [
        (name, fill(value.decode("latin-1")).encode("latin-1")) for name, value in case.headers
    ]
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


def lists_url(user_id: str) -> str:
    return f"/api/v1/users/{user_id}/lists"


async def create_list(client: httpx.AsyncClient, user_id: str, name: str) -> dict[str, Any]:
    response = await client.post(lists_url(user_id), json={"name": name})
    assert response.status_code == 201, response.text
    todo_list: dict[str, Any] = response.json()
    return todo_list


async def lists_and_orders(client: httpx.AsyncClient, user_id: str) -> dict[str, Any]:
    """A user's lists (with their counts), and each list's todos in its manual order."""
    lists = (await client.get(lists_url(user_id))).json()
    orders = {}
    for list_id in [item["id"] for item in lists["items"]] + ["none"]:
        params = {"list_id": list_id, "sort": "position"}
        orders[list_id] = (await client.get(todos_url(user_id), params=params)).json()
    return {"lists": lists, "orders": orders}


async def etag(client: httpx.AsyncClient, url: str) -> str:
    """The ETag of one todo or list, without its quotes."""
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.headers["etag"].strip('"')


async def feed_token(client: httpx.AsyncClient, user_id: str) -> str:
    """The `next` of a first sync of the user's change feed (it fits in one answer)."""
    response = await client.get(f"/api/v1/users/{user_id}/changes", params={"limit": 1000})
    assert response.status_code == 200, response.text
    assert not response.json()["has_more"]
    token: str = response.json()["next"]
    return token


@pytest.fixture
async def world(client: httpx.AsyncClient, clean_database: None) -> dict[str, Any]:
    """The victim's todo (with a secret), the attacker's own two todos, and a cursor of
    each (both lists have a second page). And lists: the victim's two (one named with the
    secret, holding two todos, so that its position order has a cursor), and the
    attacker's "Work", empty."""
    del clean_database
    secret = f"victim-secret-{uuid.uuid4().hex}"
    victim_todo = await create_todo(client, VICTIM, title=secret, description=secret)
    await create_todo(client, VICTIM, title="older")
    await create_todo(client, ATTACKER, title="mallory's older todo", tags=["Home"])
    attacker_todo = await create_todo(client, ATTACKER, title="mallory's 100% real_todo")
    page = (await client.get(todos_url(VICTIM), params={"limit": 1})).json()
    own_page = (await client.get(todos_url(ATTACKER), params={"limit": 1})).json()
    secret_list = await create_list(client, VICTIM, secret)
    await create_list(client, VICTIM, "Other")
    listed = [
        await create_todo(client, VICTIM, title=secret, list_id=secret_list["id"]) for _ in range(2)
    ]
    attacker_list = await create_list(client, ATTACKER, "Work")
    older = (await client.get(todos_url(ATTACKER))).json()["items"][-1]
    assert older["id"] != attacker_todo["id"]
    lists_page = (await client.get(lists_url(VICTIM), params={"limit": 1})).json()
    victim_key = f"victim-key-{uuid.uuid4().hex}"
    keyed_response = await client.post(
        todos_url(VICTIM), json={"title": "keyed"}, headers={"Idempotency-Key": victim_key}
    )
    assert keyed_response.status_code == 201, keyed_response.text
    victim_since = await feed_token(client, VICTIM)
    attacker_since = await feed_token(client, ATTACKER)
    raw_since = base64.urlsafe_b64decode(attacker_since + "=" * (-len(attacker_since) % 4))
    flipped = raw_since[:-1] + bytes([raw_since[-1] ^ 1])  # the binding's last byte
    position_page = (
        await client.get(
            todos_url(VICTIM),
            params={"list_id": secret_list["id"], "sort": "position", "limit": 1},
        )
    ).json()
    return {
        "secret": secret,
        "victim_todo": victim_todo,
        "victim_ids": [
            victim_todo["id"],
            secret_list["id"],
            keyed_response.json()["id"],
            *(todo["id"] for todo in listed),
        ],
        "victim_list": (await client.get(todos_url(VICTIM))).json(),
        "attacker_list": (await client.get(todos_url(ATTACKER))).json(),
        "victim_lists": await lists_and_orders(client, VICTIM),
        "attacker_lists": await lists_and_orders(client, ATTACKER),
        "substitute": {
            "<victim_list_upper>": secret_list["id"].upper(),
            "<victim_list>": secret_list["id"],
            "<victim_listed_todo>": listed[0]["id"],
            "<victim_lists_cursor>": lists_page["next_cursor"],
            "<victim_position_cursor>": position_page["next_cursor"],
            "<attacker_list>": attacker_list["id"],
            "<attacker_todo_in_no_list>": older["id"],
            "<attacker_cursor>": own_page["next_cursor"],
            "<victim_todo_upper>": victim_todo["id"].upper(),
            "<victim_todo>": victim_todo["id"],
            "<victim_cursor>": page["next_cursor"],
            "<victim_etag>": await etag(client, todo_url(VICTIM, victim_todo["id"])),
            "<victim_list_etag>": await etag(client, f"{lists_url(VICTIM)}/{secret_list['id']}"),
            "<attacker_etag>": await etag(client, todo_url(ATTACKER, attacker_todo["id"])),
            "<victim_key>": victim_key,
            "<victim_since>": victim_since,
            "<attacker_since_truncated>": attacker_since[:-4],
            "<attacker_since_flipped>": base64.urlsafe_b64encode(flipped).decode().rstrip("="),
            "<attacker_since>": attacker_since,
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


def test_the_table_reaches_every_collection_operation() -> None:
    """Bulk create, bulk change, bulk delete and stats each get hostile rows of their own,
    refused ones and accepted ones."""
    operations = {("POST", BULK), ("PATCH", LIST), ("DELETE", LIST), ("GET", STATS)}
    for method, path in operations:
        rows = [c for c in CASES if (c.method, c.path) == (method, path)]
        assert any(c.status == 422 for c in rows), (method, path)
        assert any(c.status < 300 for c in rows), (method, path)


def test_the_table_reaches_every_list_operation_and_the_move() -> None:
    """Each list operation and the move get hostile rows of their own, refused ones (a 404
    for the victim's list or todo in the path, a 422 naming the field otherwise) and
    accepted ones, and the todo operations get rows naming the victim's list."""
    operations = {
        ("POST", LISTS): {201, 409, 422},
        ("GET", LISTS): {422},
        ("GET", VICTIM_LIST_AS_ATTACKER): {404},
        ("PATCH", VICTIM_LIST_AS_ATTACKER): {404},
        ("DELETE", VICTIM_LIST_AS_ATTACKER): {404},
        ("PATCH", OWN_LIST): {422},
        ("DELETE", OWN_LIST): {422},
        ("POST", MOVE): {200, 422},
        ("POST", VICTIM_MOVE_AS_ATTACKER): {404},
    }
    for (method, path), statuses in operations.items():
        rows = {c.status for c in LISTS_AND_MOVES if (c.method, c.path) == (method, path)}
        assert statuses <= rows, (method, path, rows)
    victims_list = [
        c for c in LISTS_AND_MOVES if "<victim_list>" in c.query + c.body.decode("latin-1")
    ]
    assert {(c.method, c.path) for c in victims_list} >= {
        ("POST", LIST),
        ("PATCH", ITEM),
        ("PUT", ITEM),
        ("POST", BULK),
        ("GET", LIST),
        ("GET", STATS),
        ("PATCH", LIST),
        ("DELETE", LIST),
        ("POST", MOVE),
    }


def test_the_table_reaches_every_client_safety_header_and_the_feed() -> None:
    """Each header gets malformed rows (a 422 naming it) and rows that pass its syntax;
    the feed gets refused `since` and `limit` rows and accepted ones."""
    for header in (b"if-match", b"if-none-match", b"idempotency-key"):
        rows = [c for c in CONDITIONAL_AND_KEYS if header in dict(c.headers)]
        name = header.decode().title()  # If-Match, If-None-Match, Idempotency-Key
        assert any(c.status == 422 and c.field == f"header.{name}" for c in rows), header
        assert any(c.status != 422 for c in rows), header
    feed = [c for c in CONDITIONAL_AND_KEYS if c.path == CHANGES]
    assert {c.field for c in feed} >= {"query.since", "query.limit", None}
    assert {"VALIDATION_ERROR", None} == {c.error_code for c in feed}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_hostile_input_gets_the_documented_answer(
    case: Hostile, app: FastAPI, client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    response = await send_raw(app, case, world["substitute"])

    assert not response.errors, response.errors
    assert response.status == case.status, response.body
    assert response.status < 500
    if response.body:
        expected = "application/problem+json" if response.status >= 400 else "application/json"
        assert response.headers["content-type"] == expected
    if case.error_code is not None:
        body = response.json()
        assert body["error_code"] == case.error_code, body
        assert isinstance(body["detail"], str)
        assert body["detail"]
        if case.field is not None:
            messages = {error["field"]: error["message"] for error in body["field_errors"]}
            assert case.field in messages, body
            assert messages[case.field], body
            if case.message is not None:
                assert case.message in messages[case.field], body
    assert len(response.headers["x-request-id"]) <= 128
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in response.headers  # CORS is off by default

    # Nothing of the victim's leaks, whatever the answer.
    victim_todo = world["victim_todo"]
    assert world["secret"].encode() not in response.body
    for victim_id in world["victim_ids"]:  # todos and a list
        assert victim_id.encode() not in response.body.lower()
    if response.status < 300 and response.body:
        answer = response.json()
        items = answer.get("items", [answer] if "user_id" in answer else [])
        if "has_more" in answer:  # the change feed: the data of each item, tombstones aside
            items = [item["data"] for item in items if item["data"] is not None]
        assert all(item["user_id"] == ATTACKER for item in items), answer
        if "total" in answer:  # stats count only the attacker's two todos, at most
            assert answer["total"] <= len(world["attacker_list"]["items"]), answer

    # And nothing of the victim's changed.
    assert (await client.get(todo_url(VICTIM, victim_todo["id"]))).json() == victim_todo
    assert (await client.get(todos_url(VICTIM))).json() == world["victim_list"]
    assert await lists_and_orders(client, VICTIM) == world["victim_lists"]
    # A refused request changes nothing at all, not even the sender's own todos (a bulk
    # request is all or nothing), lists, or order.
    if response.status >= 400:
        assert (await client.get(todos_url(ATTACKER))).json() == world["attacker_list"]
        assert await lists_and_orders(client, ATTACKER) == world["attacker_lists"]


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
