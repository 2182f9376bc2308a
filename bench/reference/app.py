"""The reference app: Starlette routing, a raw asyncpg pool and orjson, nothing else.

Run by the bench as `uvicorn bench.reference.app:app`; the database comes from
BENCH_REFERENCE_DSN and the pool size from BENCH_REFERENCE_POOL (the API's default, 10).
Its validation is the minimum that keeps bad input out of the database, and its list
serves the first page only (no cursor, filters or order), which is all the bench asks of it.
"""

import base64
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.reference.sql import INSERT, LIST_PAGE, SELECT_ONE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_FOUND = b'{"detail":"Todo not found.","error_code":"NOT_FOUND"}'
_INVALID = b'{"detail":"The request is invalid.","error_code":"VALIDATION_ERROR"}'
_TITLE_MAX = 255
_DESCRIPTION_MAX = 2000
_LIMIT_MAX = 1000


def _json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:  # noqa: ANN401
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    return Response(body, status, headers, media_type="application/json")


def _error(body: bytes, status: int) -> Response:
    return Response(body, status, media_type="application/json")


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _todo(row: asyncpg.Record) -> dict[str, Any]:
    """The API's field order. asyncpg's own UUID class is not one orjson knows, so the id
    is sent as text, as the API's serializer does."""
    return {
        "title": row["title"],
        "description": row["description"],
        "is_completed": row["is_completed"],
        "id": str(row["id"]),
        "user_id": row["user_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _cursor(created_at: datetime, todo_id: str) -> str:
    """The API's cursor format, so both build the same `next_cursor`."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"desc:{micros}:{todo_id.replace('-', '')}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


async def get_todo(request: Request) -> Response:
    try:
        todo_id = uuid.UUID(request.path_params["todo_id"])
    except ValueError:
        return _error(_INVALID, 422)
    row = await _pool(request).fetchrow(SELECT_ONE, request.path_params["user_id"], todo_id)
    return _error(_NOT_FOUND, 404) if row is None else _json(_todo(row))


async def list_todos(request: Request) -> Response:
    try:
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        return _error(_INVALID, 422)
    if not 1 <= limit <= _LIMIT_MAX:
        return _error(_INVALID, 422)
    rows = await _pool(request).fetch(LIST_PAGE, request.path_params["user_id"], limit + 1)
    items = [_todo(row) for row in rows if row["id"] is not None]
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _cursor(items[-1]["created_at"], items[-1]["id"])
    return _json({"items": items, "count": rows[0]["total"], "next_cursor": next_cursor})


def _valid_body(data: Any) -> tuple[str, str | None, bool] | None:  # noqa: ANN401
    if not isinstance(data, dict):
        return None
    title = data.get("title")
    description = data.get("description")
    completed = data.get("is_completed", False)
    if not isinstance(title, str) or not 0 < len(title := title.strip()) <= _TITLE_MAX:
        return None
    if description is not None and (
        not isinstance(description, str) or len(description) > _DESCRIPTION_MAX
    ):
        return None
    if not isinstance(completed, bool):
        return None
    return title, description, completed


async def create_todo(request: Request) -> Response:
    try:
        fields = _valid_body(orjson.loads(await request.body()))
    except orjson.JSONDecodeError:
        fields = None
    if fields is None:
        return _error(_INVALID, 422)
    user_id = request.path_params["user_id"]
    row = await _pool(request).fetchrow(INSERT, *fields, user_id)
    if row is None:  # INSERT ... RETURNING always returns the row
        raise RuntimeError("INSERT returned no row")
    todo = _todo(row)
    location = f"/api/v1/users/{user_id}/todos/{todo['id']}"
    return _json(todo, 201, {"Location": location})


async def health(_request: Request) -> Response:
    return _json({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = int(os.environ.get("BENCH_REFERENCE_POOL", "10"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_REFERENCE_DSN"],
        min_size=size,
        max_size=size,
        server_settings={"application_name": "bench-reference"},
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/users/{user_id}/todos", list_todos, methods=["GET"]),
        Route("/api/v1/users/{user_id}/todos", create_todo, methods=["POST"]),
        Route("/api/v1/users/{user_id}/todos/{todo_id}", get_todo, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ],
    lifespan=lifespan,
)
