"""The rules of lists. Like `todos`, every function takes the owner's `user_id` and every
statement filters by it: another user's list is a list that does not exist.

Each function sends one statement. A list always comes back with its counts
(`todo_count`, `open_count`), computed in that same statement, from the todos' index on
`(user_id, list_id, position)`. The database, not this module, guarantees that a todo's
list is its own user's (the composite foreign key of `models.todos.Todo`), so the
refusals below are translations of what PostgreSQL refused: a second "Groceries" (the
unique index on `lower(name)`), or deleting a list that still holds todos.
"""

import hashlib
import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import asyncpg
from asyncpg import Record
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    true,
    tuple_,
    update,
)
from sqlmodel import SQLModel

from todo_api.db.database import Database, Executor, Query
from todo_api.errors import ListNameTaken, ListNotEmpty, ListNotFound
from todo_api.models.changes import ChangeType
from todo_api.models.lists import TodoListBase, TodoListCreate, TodoListPatch, TodoListPublic
from todo_api.models.todos import Sort
from todo_api.services.changes import recorded_deletions
from todo_api.services.cursor import Cursor, decode_cursor
from todo_api.services.preconditions import ItemLock, Precondition
from todo_api.services.todo_columns import AT_THE_END, NEXT_UPDATED_AT, TODOS
from todo_api.services.todo_columns import COLUMNS as TODO_COLUMNS

LISTS = SQLModel.metadata.tables["lists"]
COLUMNS = LISTS.c
_WRITABLE = tuple(TodoListBase.model_fields)
_COUNTS = ("todo_count", "open_count")
# What every statement returns: the public fields, in the schema's order.
_STORED = tuple(COLUMNS[name] for name in TodoListPublic.model_fields if name not in _COUNTS)
_OWNER = COLUMNS.user_id == bindparam("user_id")
_OWNED = (_OWNER, COLUMNS.id == bindparam("list_id"))
# A list is listed oldest first, like a sidebar: the order of `Sort.CREATED_AT`, whose
# cursors it shares.
_ORDER = Sort.CREATED_AT
_NEXT_LIST_UPDATED_AT = func.greatest(
    func.statement_timestamp(), COLUMNS.updated_at + literal_column("interval '1 microsecond'")
)
DUPLICATE_NAME = "You already have a list of this name (names are compared without regard to case)."
NOT_EMPTY = (
    "The list still holds todos. Delete it with ?todos=delete to delete them too, or with "
    "?todos=unlist to keep them in no list."
)

ListRecord = Record
"""One list: a record with exactly `TodoListPublic`'s fields."""


class TodosOfDeletedList(StrEnum):
    """What deleting a list does with its todos: by default nothing, and the list stays."""

    DELETE = "delete"
    UNLIST = "unlist"


@dataclass(frozen=True, slots=True)
class ListRecordPage:
    """One page of a user's lists; `count` counts all of them."""

    items: list[ListRecord]
    count: int
    next_cursor: str | None


def _counts_of(lists: Any) -> Any:  # noqa: ANN401  (a table or a CTE's columns)
    """Its todos, counted, for each row of `lists` (a LATERAL subquery to join)."""
    return (
        select(
            func.count().label("todo_count"),
            func.count().filter(~TODO_COLUMNS.is_completed).label("open_count"),
        )
        # The user by the parameter, not by the list's column: the same user, and every
        # statement on todos names its user outright (tests/conftest.py checks it).
        .where(TODO_COLUMNS.user_id == bindparam("user_id"), TODO_COLUMNS.list_id == lists.c.id)
        .lateral("counts")
    )


def _with_counts(source: Any) -> Select[Any]:  # noqa: ANN401  (a table or a CTE)
    counts = _counts_of(source)
    return select(
        *(source.c[column.name] for column in _STORED), counts.c.todo_count, counts.c.open_count
    ).select_from(source.join(counts, true()))


_ZERO: ColumnElement[int] = literal_column("0")
_INSERT = Query.compile(
    insert(LISTS)
    .values(user_id=bindparam("user_id"), **{name: bindparam(name) for name in _WRITABLE})
    .returning(*_STORED, _ZERO.label("todo_count"), _ZERO.label("open_count"))
)
_SELECT_ONE = Query.compile(_with_counts(LISTS).where(*_OWNED))
# The list as it is now, its row locked until the transaction ends: what a precondition is
# checked on. A todo joining or leaving the list waits for it (its foreign key locks the
# row), but one completed or reopened in it does not: the counts are as of the check.
_ITEM = ItemLock(
    Query.compile(_with_counts(LISTS).where(*_OWNED).with_for_update(of=LISTS)), ListNotFound
)
_OWNED_IDS = Query.compile(
    select(COLUMNS.id).where(_OWNER, COLUMNS.id == func.any(bindparam("list_ids")))
)


@cache
def _update_query(fields: tuple[str, ...]) -> Query:
    changed = (
        update(LISTS)
        .where(*_OWNED)
        .values({**{name: bindparam(name) for name in fields}, "updated_at": _NEXT_LIST_UPDATED_AT})
        .returning(*_STORED)
        .cte("changed")
    )
    return Query.compile(_with_counts(changed))


def _delete_query(todos: TodosOfDeletedList | None) -> Query:
    """Delete the list; first, in the same statement, its todos or their link to it. The
    foreign key is checked at the end of the statement, so a todo added to the list
    meanwhile makes it a LIST_NOT_EMPTY, never a todo pointing nowhere. Each row deleted
    leaves its tombstone for the change feed, in the same statement, which answers the
    list's (no row: no such list)."""
    in_the_list = (
        TODO_COLUMNS.user_id == bindparam("user_id"),
        TODO_COLUMNS.list_id == bindparam("list_id"),
    )
    list_gone = delete(LISTS).where(*_OWNED).returning(COLUMNS.id).cte("list_gone")
    statement = recorded_deletions(list_gone, ChangeType.LIST)
    if todos is TodosOfDeletedList.DELETE:
        gone = delete(TODOS).where(*in_the_list).returning(TODO_COLUMNS.id).cte("todos_gone")
        recorded = recorded_deletions(gone, ChangeType.TODO).cte("todos_tombstoned")
        statement = statement.add_cte(gone).add_cte(recorded)
    elif todos is TodosOfDeletedList.UNLIST:
        unlisted = (
            update(TODOS)
            .where(*in_the_list)
            .values(list_id=null(), position=AT_THE_END, updated_at=NEXT_UPDATED_AT)
            .returning(TODO_COLUMNS.id)
            .cte("todos_unlisted")
        )
        statement = statement.add_cte(unlisted)
    return Query.compile(statement)


_DELETES = {todos: _delete_query(todos) for todos in (None, *TodosOfDeletedList)}


def _page_query(*, after: bool) -> Query:
    filters: list[ColumnElement[bool]] = [_OWNER]
    if after:
        filters.append(
            tuple_(COLUMNS.created_at, COLUMNS.id)
            > tuple_(bindparam("after_created_at"), bindparam("after_id"))
        )
    order = (COLUMNS.created_at.asc(), COLUMNS.id.asc())
    page = _with_counts(LISTS).where(*filters).order_by(*order).limit(bindparam("limit"))
    page_rows = page.subquery("page")
    total = select(func.count().label("total")).select_from(LISTS).where(_OWNER).subquery()
    statement: Select[Any] = (
        select(total.c.total, page_rows)
        .select_from(total.outerjoin(page_rows, true()))
        .order_by(page_rows.c.created_at, page_rows.c.id)
    )
    return Query.compile(statement)


_FIRST_PAGE = _page_query(after=False)
_NEXT_PAGE = _page_query(after=True)


def _binding(user_id: str) -> bytes:
    """What a cursor of the lists is bound to: this user's lists (never a todo listing)."""
    return hashlib.blake2b(b"lists\0" + user_id.encode(), digest_size=8).digest()


def _is_name_taken(exc: asyncpg.UniqueViolationError) -> bool:
    return exc.constraint_name == "uq_lists_user_id_lower_name"


async def create_list(database: Executor, user_id: str, data: TodoListCreate) -> ListRecord:
    """A new, empty list; ListNameTaken if the user has one of that name in any case."""
    try:
        row = await database.fetch_one(_INSERT, user_id=user_id, **data.model_dump())
    except asyncpg.UniqueViolationError as exc:
        if _is_name_taken(exc):
            raise ListNameTaken(DUPLICATE_NAME) from None
        raise
    assert row is not None  # noqa: S101  (INSERT ... RETURNING always returns the row)
    return row


async def get_list(database: Database, user_id: str, list_id: uuid.UUID) -> ListRecord:
    """One of the user's lists with its counts, or ListNotFound."""
    row = await database.fetch_one(_SELECT_ONE, user_id=user_id, list_id=list_id)
    if row is None:
        raise ListNotFound
    return row


async def patch_list(
    database: Database,
    user_id: str,
    list_id: uuid.UUID,
    changes: TodoListPatch,
    *,
    precondition: Precondition | None = None,
) -> ListRecord:
    """Rename a list (an empty patch changes nothing, and keeps `updated_at`)."""
    values = changes.model_dump()
    fields = tuple(name for name in _WRITABLE if name in values)
    query = _update_query(fields) if fields else _SELECT_ONE

    async def rename(db: Executor) -> ListRecord:
        try:
            row = await db.fetch_one(query, user_id=user_id, list_id=list_id, **values)
        except asyncpg.UniqueViolationError as exc:
            if _is_name_taken(exc):
                raise ListNameTaken(DUPLICATE_NAME) from None
            raise
        if row is None:
            raise ListNotFound
        return row

    return await _ITEM.write_if(database, precondition, rename, user_id=user_id, list_id=list_id)


async def delete_list(
    database: Database,
    user_id: str,
    list_id: uuid.UUID,
    *,
    todos: TodosOfDeletedList | None = None,
    precondition: Precondition | None = None,
) -> None:
    """Delete a list. One that still holds todos stays, with ListNotEmpty, unless `todos`
    says to delete them or to keep them in no list (at its end)."""

    async def delete_it(db: Executor) -> None:
        try:
            row = await db.fetch_one(_DELETES[todos], user_id=user_id, list_id=list_id)
        except asyncpg.ForeignKeyViolationError:
            raise ListNotEmpty(NOT_EMPTY) from None
        if row is None:
            raise ListNotFound

    await _ITEM.write_if(database, precondition, delete_it, user_id=user_id, list_id=list_id)


async def list_lists(
    database: Database, user_id: str, *, limit: int, cursor: str | None
) -> ListRecordPage:
    """A page of the user's lists, oldest first."""
    binding = _binding(user_id)
    values: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    query = _FIRST_PAGE
    if cursor is not None:
        position = decode_cursor(cursor, sort=_ORDER, binding=binding)
        values["after_created_at"] = position.created_at
        values["after_id"] = position.id
        query = _NEXT_PAGE
    rows = await database.fetch_all(query, **values)
    total = rows[0]["total"]
    items = [row for row in rows if row["id"] is not None]  # no list: one row, the count
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = Cursor(
            sort=_ORDER, key=last["created_at"], created_at=last["created_at"], id=last["id"]
        ).encode(binding)
    return ListRecordPage(items=items, count=total, next_cursor=next_cursor)


async def owned_list_ids(
    database: Executor, user_id: str, list_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `list_ids` are the user's lists."""
    rows = await database.fetch_all(_OWNED_IDS, user_id=user_id, list_ids=list_ids)
    return {row["id"] for row in rows}
