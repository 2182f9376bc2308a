"""The rules of todos. Every function takes the owner's `user_id`, and every statement it
sends filters by it: another user's todo is indistinguishable from one that never existed.

Each function sends exactly one SQL statement (writes use RETURNING; a bulk create sends
all its rows as one JSON parameter), so a request costs one round trip to the database.
The statements are SQLAlchemy Core over the SQLModel table, compiled once (see
`db.database`); how each field maps to its column is in `todo_columns`.

Todos come back as database records holding exactly `TodoPublic`'s fields: the data was
validated on the way in and is constrained by the table, so the HTTP layer serializes
records directly instead of building a pydantic model per row (see `api/responses.py`).
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from functools import cache
from typing import Any

import asyncpg
import orjson
from asyncpg import Record
from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from todo_api.db.database import Database, Executor, Query, Transaction
from todo_api.errors import InvalidInput, TodoNotFound
from todo_api.models.changes import ChangeType
from todo_api.models.todos import (
    TodoBase,
    TodoBulkChange,
    TodoCreate,
    TodoPatch,
    TodoReplace,
)
from todo_api.services.changes import recorded_deletions
from todo_api.services.idempotency import Inserted, insert_once, keyed_insert
from todo_api.services.lists import owned_list_ids
from todo_api.services.preconditions import ItemLock, Precondition
from todo_api.services.todo_columns import (
    COLUMNS,
    NEXT_UPDATED_AT,
    PUBLIC,
    TODOS,
    completion_time,
    current,
    given_type,
    position_after_list_change,
    stored,
)
from todo_api.services.todo_filters import TodoFilters, conditions

# What a client may write: the fields of `TodoBase`, so a field added to the model is stored
# by every INSERT and UPDATE below without being listed anywhere else.
_WRITABLE = tuple(TodoBase.model_fields)
_OWNER = COLUMNS.user_id == bindparam("user_id")
NO_FILTER = (
    "Name the todos to delete with at least one filter, such as ?is_completed=true; "
    "a DELETE without one would remove them all."
)
_OWNED = (_OWNER, COLUMNS.id == bindparam("todo_id"))
CREATED = 201  # the status of a create's response, stored with its idempotency key
NOT_YOUR_LIST = "list_id must be the id of one of your lists, or null for none."

TodoRecord = Record
"""One todo: a record with exactly `TodoPublic`'s fields."""


def _written(
    names: tuple[str, ...], source: Callable[[str], Any], *, insert: bool
) -> dict[str, Any]:
    """The SET (or VALUES) of a write of the fields `names`, read from `source(name)`, with
    `completed_at` following `is_completed` wherever it may change."""
    values = {name: stored(name, source(name)) for name in names}
    if "is_completed" in values:
        new = values["is_completed"]
        values["completed_at"] = (
            completion_time(new)
            if insert
            else completion_time(new, was_completed=COLUMNS.is_completed)
        )
    if "list_id" in values and not insert:  # (an insert goes to the end by default)
        values["position"] = position_after_list_change(values["list_id"])
    if not insert:
        values["updated_at"] = NEXT_UPDATED_AT
    return values


@contextmanager
def _in_own_lists(field: str = "body.list_id") -> Iterator[None]:
    """The foreign key refused the todo's list: not one of this user's (whether another
    user's or nobody's, the answer is the same)."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise InvalidInput(field, NOT_YOUR_LIST) from None


_INSERT = Query.compile(
    insert(TODOS)
    .values(user_id=bindparam("user_id"), **_written(_WRITABLE, bindparam, insert=True))
    .returning(*PUBLIC)
)


def _typed(name: str) -> Any:  # noqa: ANN401  (a bind parameter)
    """A client's value as a parameter of its SQL type: in `INSERT ... SELECT` no column
    gives it one (tags and priority get theirs from the cast that stores them)."""
    return bindparam(name) if name in _CAST_WHEN_STORED else bindparam(name, type_=given_type(name))


_CAST_WHEN_STORED = frozenset({"tags", "priority"})
# A create with an idempotency key, claimed and stored in the insert's own statement.
_KEYED_INSERT = keyed_insert(
    TODOS,
    {"user_id": bindparam("user_id"), **_written(_WRITABLE, _typed, insert=True)},
    PUBLIC,
)
_SELECT_ONE = Query.compile(select(*PUBLIC).where(*_OWNED))
# The todo as it is now, locked until the transaction ends: what a precondition is checked on.
_ITEM = ItemLock(Query.compile(select(*PUBLIC).where(*_OWNED).with_for_update()), TodoNotFound)
_TOGGLE = Query.compile(
    update(TODOS)
    .where(*_OWNED)
    .values(
        is_completed=~COLUMNS.is_completed,
        completed_at=completion_time(~COLUMNS.is_completed, was_completed=COLUMNS.is_completed),
        updated_at=NEXT_UPDATED_AT,
    )
    .returning(*PUBLIC)
)
# The todo, and its tombstone for the change feed, in one statement: a row iff it existed.
_DELETE = Query.compile(
    recorded_deletions(
        delete(TODOS).where(*_OWNED).returning(COLUMNS.id).cte("gone"), ChangeType.TODO
    )
)


def _bulk_insert() -> Query:
    """Many todos in one statement: the rows travel as one JSON array, each with its place
    in the request, and come back in that order. Their ids are drawn before the insert,
    so the inserted rows can be matched to their places."""
    rows = (
        func.jsonb_to_recordset(bindparam("rows", type_=JSONB))
        .table_valued(
            column("ordinal", Integer), *(column(name, given_type(name)) for name in _WRITABLE)
        )
        .render_derived(with_types=True)
        .alias("rows")
    )
    given = select(func.gen_random_uuid().label("id"), rows).cte("given")
    values = _written(_WRITABLE, lambda name: given.c[name], insert=True)
    inserted = (
        insert(TODOS)
        .from_select(
            ["user_id", "id", *values],
            select(bindparam("user_id"), given.c.id, *values.values()),
        )
        .returning(*PUBLIC)
        .cte("inserted")
    )
    statement: Select[Any] = (
        select(inserted).join(given, given.c.id == inserted.c.id).order_by(given.c.ordinal)
    )
    return Query.compile(statement)


_BULK_INSERT = _bulk_insert()


@cache
def _update_query(fields: tuple[str, ...]) -> Query:
    """UPDATE of exactly `fields` (a PATCH sends any subset, so one variant per subset, each
    compiled on first use)."""
    return Query.compile(
        update(TODOS)
        .where(*_OWNED)
        .values(_written(fields, bindparam, insert=False))
        .returning(*PUBLIC)
    )


@cache
def _bulk_update_query(fields: tuple[str, ...], shape: tuple[str, ...]) -> Query:
    """One UPDATE of `fields` over every todo matching filters of `shape`, counting only
    the rows it changes: a todo that already has the values keeps its `updated_at`."""
    changes = [current(name).is_distinct_from(stored(name, bindparam(name))) for name in fields]
    changed = (
        update(TODOS)
        .where(_OWNER, *conditions(shape), or_(*changes))
        .values(_written(fields, bindparam, insert=False))
        .returning(COLUMNS.id)
        .cte("changed")
    )
    return Query.compile(select(func.count().label("updated")).select_from(changed))


@cache
def _bulk_delete_query(shape: tuple[str, ...]) -> Query:
    """One DELETE of every todo matching filters of `shape`, counted, each leaving its
    tombstone for the change feed in the same statement."""
    deleted = delete(TODOS).where(_OWNER, *conditions(shape)).returning(COLUMNS.id).cte("gone")
    recorded = recorded_deletions(deleted, ChangeType.TODO).cte("tombstoned")
    counted = select(func.count().label("deleted")).select_from(deleted).add_cte(recorded)
    return Query.compile(counted)


async def _one_or_not_found(database: Executor, query: Query, **values: object) -> TodoRecord:
    row = await database.fetch_one(query, **values)
    if row is None:
        raise TodoNotFound
    return row


async def create_todo(database: Executor, user_id: str, data: TodoCreate) -> TodoRecord:
    """Insert a todo; the database assigns its id and timestamps."""
    with _in_own_lists():
        row = await database.fetch_one(_INSERT, user_id=user_id, **data.model_dump())
    assert row is not None  # noqa: S101  (INSERT ... RETURNING always returns the row)
    return row


async def create_todo_once(
    database: Database, user_id: str, data: TodoCreate, *, key: str, request_fingerprint: bytes
) -> Inserted:
    """`create_todo`, once for the user's idempotency `key`: the new todo, or the first
    request's, which a repeat replays (see services.idempotency.keyed_insert)."""
    with _in_own_lists():
        return await insert_once(
            database,
            _KEYED_INSERT,
            user_id=user_id,
            key=key,
            request_fingerprint=request_fingerprint,
            status_code=CREATED,
            **data.model_dump(),
        )


async def create_todos(
    database: Executor, user_id: str, todos: list[TodoCreate]
) -> list[TodoRecord]:
    """Insert all of `todos` or none (one statement is atomic), in the order given."""
    rows = [
        {"ordinal": ordinal, **todo.model_dump(mode="json")} for ordinal, todo in enumerate(todos)
    ]
    try:
        async with _undoable(database):
            return await database.fetch_all(
                _BULK_INSERT, user_id=user_id, rows=orjson.dumps(rows).decode()
            )
    except asyncpg.ForeignKeyViolationError:
        raise await _first_foreign_list(database, user_id, todos) from None


def _undoable(database: Executor) -> AbstractAsyncContextManager[object]:
    """In a transaction (a keyed request), a savepoint around a statement that may be
    refused, so the transaction can still ask why; alone, the statement is its own."""
    return database.savepoint() if isinstance(database, Transaction) else nullcontext()


async def _first_foreign_list(
    database: Executor, user_id: str, todos: list[TodoCreate]
) -> InvalidInput:
    """The error naming the first todo whose list is not the user's (the foreign key
    does not say which row it refused)."""
    wanted = list({todo.list_id for todo in todos if todo.list_id is not None})
    owned = await owned_list_ids(database, user_id, wanted)
    first = next(
        (
            i
            for i, todo in enumerate(todos)
            if todo.list_id is not None and todo.list_id not in owned
        ),
        0,
    )
    return InvalidInput(f"body.todos.{first}.list_id", NOT_YOUR_LIST)


async def get_todo(database: Database, user_id: str, todo_id: uuid.UUID) -> TodoRecord:
    """One of the user's todos, or TodoNotFound."""
    return await _one_or_not_found(database, _SELECT_ONE, user_id=user_id, todo_id=todo_id)


async def replace_todo(
    database: Database,
    user_id: str,
    todo_id: uuid.UUID,
    data: TodoReplace,
    *,
    precondition: Precondition | None = None,
) -> TodoRecord:
    """Overwrite the fields a PUT sends: the original three always, the planning fields
    when present (an older client that does not know them leaves them as they are)."""
    return await _write(database, user_id, todo_id, data.model_dump(), precondition)


async def patch_todo(
    database: Database,
    user_id: str,
    todo_id: uuid.UUID,
    changes: TodoPatch,
    *,
    precondition: Precondition | None = None,
) -> TodoRecord:
    """Change only the fields the client sent. An empty patch changes nothing, so
    `updated_at` stays where it was (and its precondition is still checked)."""
    return await _write(database, user_id, todo_id, changes.model_dump(), precondition)


async def toggle_completed(
    database: Database,
    user_id: str,
    todo_id: uuid.UUID,
    *,
    precondition: Precondition | None = None,
) -> TodoRecord:
    """Flip `is_completed` in the database, so concurrent toggles never lose one."""
    return await _ITEM.write_if(
        database,
        precondition,
        lambda db: _one_or_not_found(db, _TOGGLE, user_id=user_id, todo_id=todo_id),
        user_id=user_id,
        todo_id=todo_id,
    )


async def delete_todo(
    database: Database,
    user_id: str,
    todo_id: uuid.UUID,
    *,
    precondition: Precondition | None = None,
) -> None:
    """Remove a todo, or raise TodoNotFound."""

    async def delete_it(db: Executor) -> None:
        if await db.fetch_one(_DELETE, user_id=user_id, todo_id=todo_id) is None:
            raise TodoNotFound

    await _ITEM.write_if(database, precondition, delete_it, user_id=user_id, todo_id=todo_id)


async def update_todos(
    database: Database, user_id: str, filters: TodoFilters, change: TodoBulkChange
) -> int:
    """Apply `change` to every todo matching `filters`; how many it changed."""
    values = change.model_dump()
    fields = tuple(name for name in _WRITABLE if name in values)
    query = _bulk_update_query(fields, filters.shape)
    row = await database.fetch_one(query, user_id=user_id, **filters.values(), **values)
    assert row is not None  # noqa: S101  (a count always returns its row)
    return int(row["updated"])


async def delete_todos(database: Database, user_id: str, filters: TodoFilters) -> int:
    """Delete every todo matching `filters`; how many. Without any filter it refuses: a
    client bug must not wipe a user's todos, and "delete them all" is rare enough to be
    spelled out (`?is_completed=true`, then `false`)."""
    if filters.is_empty:
        raise InvalidInput("query", NO_FILTER)
    query = _bulk_delete_query(filters.shape)
    row = await database.fetch_one(query, user_id=user_id, **filters.values())
    assert row is not None  # noqa: S101  (a count always returns its row)
    return int(row["deleted"])


async def _write(
    database: Database,
    user_id: str,
    todo_id: uuid.UUID,
    values: dict[str, Any],
    precondition: Precondition | None,
) -> TodoRecord:
    """An UPDATE of the fields in `values`; with none, the todo as it is."""
    fields = tuple(name for name in _WRITABLE if name in values)
    query = _update_query(fields) if fields else _SELECT_ONE

    async def write(db: Executor) -> TodoRecord:
        with _in_own_lists():
            return await _one_or_not_found(db, query, user_id=user_id, todo_id=todo_id, **values)

    return await _ITEM.write_if(database, precondition, write, user_id=user_id, todo_id=todo_id)
