"""JSON responses written straight from database records with orjson.

Building a pydantic model per row and serializing it costs about ten times more than the
database round trip for a page of 50 todos. The records already hold exactly the fields
of `TodoPublic` (the services select them by its field names), were validated on the way
in, and are constrained by the table, so they are serialized once, here. The routes still
declare `TodoPublic` and `TodoPage` as their response models, which keeps the OpenAPI
document exact; the contract tests check real responses against it.
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from asyncpg import Record
from starlette.responses import Response

from todo_api.api.conditional import etag_of
from todo_api.models.changes import ChangeType
from todo_api.models.lists import TodoListPublic
from todo_api.models.todos import TodoPublic
from todo_api.services.changes import ChangeRecordPage
from todo_api.services.lists import ListRecord, ListRecordPage
from todo_api.services.todo_listing import TodoRecordPage
from todo_api.services.todos import TodoRecord

_FIELDS = tuple(TodoPublic.model_fields)
_LIST_FIELDS = tuple(TodoListPublic.model_fields)


def _encode_other(value: object) -> str:
    """asyncpg returns its own UUID subclass, which orjson does not take for a UUID."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _render(content: Any) -> bytes:  # noqa: ANN401  (any JSON-shaped value)
    return orjson.dumps(content, default=_encode_other, option=orjson.OPT_UTC_Z)


class JSONResponse(Response):
    """JSON via orjson; datetimes as RFC 3339 in UTC with a `Z`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:  # noqa: ANN401  (any JSON-shaped value)
        return _render(content)


def _with_etag(response: JSONResponse) -> JSONResponse:
    response.headers["ETag"] = etag_of(bytes(response.body))
    return response


def _todo(record: TodoRecord | Mapping[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in _FIELDS}


def todo_response(
    record: TodoRecord | Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """One todo, shaped as `TodoPublic`, with its ETag."""
    return _with_etag(JSONResponse(_todo(record), status_code=status_code, headers=headers))


def revived_todo(data: dict[str, Any]) -> dict[str, Any]:
    """A todo from the JSON PostgreSQL made of its row (an idempotency key's record), as
    the values asyncpg would have returned, so `todo_response` renders the same bytes."""
    todo = TodoPublic.model_validate(data).model_dump()
    return {
        name: value.astimezone(UTC) if isinstance(value, datetime) else value
        for name, value in todo.items()
    }


def todo_etag(record: TodoRecord) -> str:
    """The ETag of `record`'s representation (what `todo_response` sends)."""
    return etag_of(_render(_todo(record)))


def page_response(page: TodoRecordPage) -> JSONResponse:
    """A page of todos, shaped as `TodoPage`."""
    return JSONResponse(
        {
            "items": [_todo(record) for record in page.items],
            "count": page.count,
            "next_cursor": page.next_cursor,
        }
    )


def _list(record: ListRecord) -> dict[str, Any]:
    return {name: record[name] for name in _LIST_FIELDS}


def list_response(
    record: ListRecord, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """One list, shaped as `TodoListPublic`, with its ETag."""
    return _with_etag(JSONResponse(_list(record), status_code=status_code, headers=headers))


def list_etag(record: ListRecord) -> str:
    """The ETag of `record`'s representation (what `list_response` sends)."""
    return etag_of(_render(_list(record)))


def list_page_response(page: ListRecordPage) -> JSONResponse:
    """A page of lists, shaped as `TodoListPage`."""
    return JSONResponse(
        {
            "items": [_list(record) for record in page.items],
            "count": page.count,
            "next_cursor": page.next_cursor,
        }
    )


def items_response(records: list[TodoRecord], *, status_code: int = 200) -> JSONResponse:
    """Todos made together, shaped as `TodoItems`."""
    return JSONResponse({"items": [_todo(record) for record in records]}, status_code=status_code)


def _change(record: Record) -> dict[str, Any]:
    data = None
    if record["deleted_at"] is None:
        data = _todo(record) if record["type"] == ChangeType.TODO else _list(record)
    return {
        "type": record["type"],
        "id": record["id"],
        "deleted_at": record["deleted_at"],
        "data": data,
    }


def change_page_response(page: ChangeRecordPage) -> JSONResponse:
    """An answer of the change feed, shaped as `ChangePage`: each item a todo or a list as
    `todo_response` and `list_response` shape them, or a tombstone."""
    return JSONResponse(
        {
            "items": [_change(record) for record in page.items],
            "next": page.next,
            "has_more": page.has_more,
        }
    )
