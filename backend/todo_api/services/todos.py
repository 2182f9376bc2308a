"""The rules of todos. Every function takes the owner's `user_id`, and every statement it
sends filters by it: another user's todo is indistinguishable from one that never existed.

Each function sends exactly one SQL statement (writes use RETURNING; listing fetches the
page and the total together), so a request costs one round trip to the database. The
statements are SQLAlchemy Core over the SQLModel table, compiled once (see `db.database`).

Todos come back as database records holding exactly `TodoPublic`'s fields: the data was
validated on the way in and is constrained by the table, so the HTTP layer serializes
records directly instead of building a pydantic model per row (see `api/responses.py`).
"""

import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from asyncpg import Record
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlmodel import SQLModel

from todo_api.db.database import Database, Query
from todo_api.errors import TodoNotFound
from todo_api.models import TodoBase, TodoCreate, TodoPatch, TodoPublic, TodoReplace
from todo_api.services.cursor import Cursor, SortOrder, decode_cursor

TODOS = SQLModel.metadata.tables["todos"]
_COLUMNS = TODOS.c
# What a client may write: the fields of `TodoBase`, so a field added to the model is stored
# by every INSERT and UPDATE below without being listed anywhere else.
_WRITABLE = tuple(TodoBase.model_fields)
_LIKE_ESCAPE = "\\"
# updated_at never moves backwards, even when two writers race for the same row: the later
# lock holder sees the earlier writer's value and takes the larger of the two.
_NEXT_UPDATED_AT = func.greatest(func.clock_timestamp(), _COLUMNS.updated_at)
_OWNED = (_COLUMNS.user_id == bindparam("user_id"), _COLUMNS.id == bindparam("todo_id"))
# What every statement returns: the public fields, in the schema's order.
_PUBLIC = tuple(_COLUMNS[name] for name in TodoPublic.model_fields)

TodoRecord = Record
"""One todo: a record with exactly `TodoPublic`'s fields."""


@dataclass(frozen=True, slots=True)
class TodoRecordPage:
    """One page of a listing; `count` counts every match, on all pages."""

    items: list[TodoRecord]
    count: int
    next_cursor: str | None


_INSERT = Query.compile(
    insert(TODOS)
    .values({name: bindparam(name) for name in ("user_id", *_WRITABLE)})
    .returning(*_PUBLIC)
)
_SELECT_ONE = Query.compile(select(*_PUBLIC).where(*_OWNED))
_TOGGLE = Query.compile(
    update(TODOS)
    .where(*_OWNED)
    .values(is_completed=~_COLUMNS.is_completed, updated_at=_NEXT_UPDATED_AT)
    .returning(*_PUBLIC)
)
_DELETE = Query.compile(delete(TODOS).where(*_OWNED).returning(_COLUMNS.id))


@cache
def _update_query(fields: tuple[str, ...]) -> Query:
    """UPDATE of exactly `fields` (a PATCH sends any subset, so one variant per subset, each
    compiled on first use)."""
    values: dict[str, Any] = {name: bindparam(name) for name in fields}
    return Query.compile(
        update(TODOS)
        .where(*_OWNED)
        .values(**values, updated_at=_NEXT_UPDATED_AT)
        .returning(*_PUBLIC)
    )


async def _one_or_not_found(database: Database, query: Query, **values: object) -> TodoRecord:
    row = await database.fetch_one(query, **values)
    if row is None:
        raise TodoNotFound
    return row


async def create_todo(database: Database, user_id: str, data: TodoCreate) -> TodoRecord:
    """Insert a todo; the database assigns its id and timestamps."""
    row = await database.fetch_one(_INSERT, user_id=user_id, **data.model_dump())
    assert row is not None  # noqa: S101  (INSERT ... RETURNING always returns the row)
    return row


async def get_todo(database: Database, user_id: str, todo_id: uuid.UUID) -> TodoRecord:
    """One of the user's todos, or TodoNotFound."""
    return await _one_or_not_found(database, _SELECT_ONE, user_id=user_id, todo_id=todo_id)


async def replace_todo(
    database: Database, user_id: str, todo_id: uuid.UUID, data: TodoReplace
) -> TodoRecord:
    """Overwrite every writable field."""
    return await _update(database, user_id, todo_id, data.model_dump())


async def patch_todo(
    database: Database, user_id: str, todo_id: uuid.UUID, changes: TodoPatch
) -> TodoRecord:
    """Change only the fields the client sent. An empty patch changes nothing, so
    `updated_at` stays where it was."""
    values = changes.model_dump()
    if not values:
        return await get_todo(database, user_id, todo_id)
    return await _update(database, user_id, todo_id, values)


async def toggle_completed(database: Database, user_id: str, todo_id: uuid.UUID) -> TodoRecord:
    """Flip `is_completed` in the database, so concurrent toggles never lose one."""
    return await _one_or_not_found(database, _TOGGLE, user_id=user_id, todo_id=todo_id)


async def delete_todo(database: Database, user_id: str, todo_id: uuid.UUID) -> None:
    """Remove a todo, or raise TodoNotFound."""
    if await database.fetch_one(_DELETE, user_id=user_id, todo_id=todo_id) is None:
        raise TodoNotFound


async def _update(
    database: Database, user_id: str, todo_id: uuid.UUID, values: dict[str, Any]
) -> TodoRecord:
    fields = tuple(name for name in _WRITABLE if name in values)
    return await _one_or_not_found(
        database, _update_query(fields), user_id=user_id, todo_id=todo_id, **values
    )


def _escape_like(text: str) -> str:
    """Make `%` and `_` in a search term match themselves."""
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _sort(columns: ReadOnlyColumnCollection[str, Any], order: SortOrder) -> list[Any]:
    keys = (columns.created_at, columns.id)
    return [key.asc() if order == "asc" else key.desc() for key in keys]


@cache
def _list_query(*, by_completion: bool, by_text: bool, after: bool, order: SortOrder) -> Query:
    """The page (one row more than asked, to know whether another page follows) left-joined
    to the total, so an empty page still reports the count, all in one statement. One
    variant per combination of filters (at most 16), each compiled once."""
    filters: list[ColumnElement[bool]] = [_COLUMNS.user_id == bindparam("user_id")]
    if by_completion:
        filters.append(_COLUMNS.is_completed == bindparam("is_completed"))
    if by_text:
        pattern: Any = bindparam("pattern")
        filters.append(
            or_(
                _COLUMNS.title.ilike(pattern, escape=_LIKE_ESCAPE),
                _COLUMNS.description.ilike(pattern, escape=_LIKE_ESCAPE),
            )
        )
    page_filters = list(filters)
    if after:
        position = tuple_(_COLUMNS.created_at, _COLUMNS.id)
        cursor = tuple_(bindparam("after_created_at"), bindparam("after_id"))
        page_filters.append(position > cursor if order == "asc" else position < cursor)

    page = (
        select(*_PUBLIC)
        .where(*page_filters)
        .order_by(*_sort(_COLUMNS, order))
        .limit(bindparam("limit"))
        .subquery("page")
    )
    total = select(func.count().label("total")).select_from(TODOS).where(*filters).subquery()
    statement: Select[Any] = (
        select(total.c.total, page)
        .select_from(total.outerjoin(page, true()))
        .order_by(*_sort(page.c, order))
    )
    return Query.compile(statement)


async def list_todos(
    database: Database,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    is_completed: bool | None,
    q: str | None,
    order: SortOrder,
) -> TodoRecordPage:
    """A page of the user's todos, newest first unless `order` is `asc`."""
    position = decode_cursor(cursor, order) if cursor is not None else None
    query = _list_query(
        by_completion=is_completed is not None,
        by_text=bool(q),
        after=position is not None,
        order=order,
    )
    values: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if is_completed is not None:
        values["is_completed"] = is_completed
    if q:
        values["pattern"] = f"%{_escape_like(q)}%"
    if position is not None:
        values["after_created_at"] = position.created_at
        values["after_id"] = position.id
    rows = await database.fetch_all(query, **values)
    total = rows[0]["total"]
    items = [row for row in rows if row["id"] is not None]  # no match: one row, the count
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = Cursor(created_at=last["created_at"], id=last["id"], order=order).encode()
    return TodoRecordPage(items=items, count=total, next_cursor=next_cursor)
