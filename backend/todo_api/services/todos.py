"""The rules of todos. Every function takes the owner's `user_id`, and every statement it
sends filters by it: another user's todo is indistinguishable from one that never existed.

Each function sends exactly one SQL statement (writes use RETURNING, listing fetches the
page and the total together), so a request costs one round trip to the database.
"""

import uuid
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Row,
    Select,
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

from todo_api.db.session import Database
from todo_api.errors import TodoNotFound
from todo_api.models import TodoCreate, TodoPage, TodoPatch, TodoPublic, TodoReplace
from todo_api.services.cursor import Cursor, SortOrder, decode_cursor

TODOS = SQLModel.metadata.tables["todos"]
_COLUMNS = TODOS.c
# updated_at never moves backwards, even when two writers race for the same row: the later
# lock holder sees the earlier writer's value and takes the larger of the two.
_NEXT_UPDATED_AT = func.greatest(func.clock_timestamp(), _COLUMNS.updated_at)
_LIKE_ESCAPE = "\\"


def _owned(user_id: str, todo_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    return (_COLUMNS.user_id == user_id, _COLUMNS.id == todo_id)


def _to_public(row: Row[Any]) -> TodoPublic:
    return TodoPublic.model_validate(row, from_attributes=True)


async def _one_or_not_found(database: Database, statement: Executable) -> TodoPublic:
    row = (await database.execute(statement)).one_or_none()
    if row is None:
        raise TodoNotFound
    return _to_public(row)


async def create_todo(database: Database, user_id: str, data: TodoCreate) -> TodoPublic:
    """Insert a todo; the database assigns its id and timestamps."""
    statement = insert(TODOS).values(user_id=user_id, **data.model_dump()).returning(*_COLUMNS)
    return _to_public((await database.execute(statement)).one())


async def get_todo(database: Database, user_id: str, todo_id: uuid.UUID) -> TodoPublic:
    """One of the user's todos, or TodoNotFound."""
    return await _one_or_not_found(database, select(TODOS).where(*_owned(user_id, todo_id)))


async def replace_todo(
    database: Database, user_id: str, todo_id: uuid.UUID, data: TodoReplace
) -> TodoPublic:
    """Overwrite every writable field."""
    return await _update(database, user_id, todo_id, data.model_dump())


async def patch_todo(
    database: Database, user_id: str, todo_id: uuid.UUID, changes: TodoPatch
) -> TodoPublic:
    """Change only the fields the client sent. An empty patch changes nothing, so
    `updated_at` stays where it was."""
    values = changes.model_dump()
    if not values:
        return await get_todo(database, user_id, todo_id)
    return await _update(database, user_id, todo_id, values)


async def toggle_completed(database: Database, user_id: str, todo_id: uuid.UUID) -> TodoPublic:
    """Flip `is_completed` in the database, so concurrent toggles never lose one."""
    return await _update(database, user_id, todo_id, {"is_completed": ~_COLUMNS.is_completed})


async def delete_todo(database: Database, user_id: str, todo_id: uuid.UUID) -> None:
    """Remove a todo, or raise TodoNotFound."""
    statement = delete(TODOS).where(*_owned(user_id, todo_id)).returning(_COLUMNS.id)
    if (await database.execute(statement)).one_or_none() is None:
        raise TodoNotFound


async def _update(
    database: Database, user_id: str, todo_id: uuid.UUID, values: dict[str, Any]
) -> TodoPublic:
    statement = (
        update(TODOS)
        .where(*_owned(user_id, todo_id))
        .values(**values, updated_at=_NEXT_UPDATED_AT)
        .returning(*_COLUMNS)
    )
    return await _one_or_not_found(database, statement)


def _escape_like(text: str) -> str:
    """Make `%` and `_` in a search term match themselves."""
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _filters(user_id: str, is_completed: bool | None, q: str | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [_COLUMNS.user_id == user_id]
    if is_completed is not None:
        filters.append(_COLUMNS.is_completed == is_completed)
    if q:
        pattern = f"%{_escape_like(q)}%"
        filters.append(
            or_(
                _COLUMNS.title.ilike(pattern, escape=_LIKE_ESCAPE),
                _COLUMNS.description.ilike(pattern, escape=_LIKE_ESCAPE),
            )
        )
    return filters


def _list_statement(
    user_id: str,
    *,
    limit: int,
    cursor: Cursor | None,
    is_completed: bool | None,
    q: str | None,
    order: SortOrder,
) -> Select[Any]:
    """The page (one row more than asked, to know whether another page follows) left-joined
    to the total, so an empty page still reports the count, all in one statement."""
    filters = _filters(user_id, is_completed, q)
    position = tuple_(_COLUMNS.created_at, _COLUMNS.id)
    page_filters = list(filters)
    if cursor is not None:
        after = tuple_(cursor.created_at, cursor.id)
        page_filters.append(position > after if order == "asc" else position < after)

    def sort(table_columns: ReadOnlyColumnCollection[str, Any]) -> list[Any]:
        keys = (table_columns.created_at, table_columns.id)
        return [key.asc() if order == "asc" else key.desc() for key in keys]

    page = select(TODOS).where(*page_filters).order_by(*sort(_COLUMNS)).limit(limit + 1)
    page_rows = page.subquery("page")
    total = select(func.count().label("total")).select_from(TODOS).where(*filters).subquery("total")
    return (
        select(total.c.total, page_rows)
        .select_from(total.outerjoin(page_rows, true()))
        .order_by(*sort(page_rows.c))
    )


async def list_todos(
    database: Database,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    is_completed: bool | None,
    q: str | None,
    order: SortOrder,
) -> TodoPage:
    """A page of the user's todos, newest first unless `order` is `asc`."""
    position = decode_cursor(cursor, order) if cursor is not None else None
    statement = _list_statement(
        user_id, limit=limit, cursor=position, is_completed=is_completed, q=q, order=order
    )
    rows = (await database.execute(statement)).all()
    total = rows[0].total
    items = [_to_public(row) for row in rows if row.id is not None]
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = Cursor(created_at=last.created_at, id=last.id, order=order).encode()
    return TodoPage(items=items, count=total, next_cursor=next_cursor)
