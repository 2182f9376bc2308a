"""Moving a todo to its place in a list's manual order (decision 0015).

A position is a bigint. The end of any list is the next value of a sequence times
POSITION_GAP, larger than every position given before, so a new todo (or one moved to
the end) needs no lock and no look at the list. A todo placed between two neighbours
takes the middle of their gap. When a gap has no integer left in it (after about 24
moves into the same gap), the list is respaced first: its todos, in order, get positions
POSITION_GAP apart ending at its highest one, in one UPDATE, inside the same transaction,
so no reader ever sees a half-respaced list.

A move is one short transaction: it takes a transaction-scoped advisory lock on its
target list (user and list), then reads the neighbours, then writes. The lock comes
first because a statement's snapshot predates any lock it waits for; two moves into one
list therefore take turns, and each sees the other's result. Everything else that writes
a position writes the end of a list, from the sequence, which cannot collide with them.
The unique constraint on `(user_id, list_id, position)` stands behind all of this.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg import Record
from sqlalchemy import ColumnElement, bindparam, func, literal_column, select, update
from sqlalchemy.types import BigInteger, String, Uuid

from todo_api.db.database import Database, Executor, Query, Transaction
from todo_api.errors import InvalidInput, TodoNotFound
from todo_api.models.todos import POSITION_GAP
from todo_api.services.lists import owned_list_ids
from todo_api.services.preconditions import Precondition
from todo_api.services.todo_columns import AT_THE_END, COLUMNS, NEXT_UPDATED_AT, PUBLIC, TODOS
from todo_api.services.todos import NOT_YOUR_LIST, TodoRecord

# A deadlock between a move's respacing and another write is detected by PostgreSQL
# within a second and rolls one back; the move is simply made again.
_ATTEMPTS = 3
NOT_IN_THE_LIST = "{field} must be the id of one of your todos in the list it is moved to."
NOT_ITSELF = "A todo cannot be placed next to itself: {field} is the todo being moved."
NOT_NEIGHBOURS = (
    "before and after must be neighbours in the list (after just before before); "
    "send only one of them to place the todo next to it."
)

_OWNER = COLUMNS.user_id == bindparam("user_id")
_OTHERS = COLUMNS.id != bindparam("todo_id")


def _in_list(listed: bool) -> ColumnElement[bool]:
    return COLUMNS.list_id == bindparam("list_id") if listed else COLUMNS.list_id.is_(None)


_LOCK = Query.compile(
    select(
        func.pg_advisory_xact_lock(
            func.hashtextextended(
                func.concat_ws(
                    literal_column("'/'"),
                    bindparam("user_id", type_=String()),
                    bindparam("list_key", type_=String()),
                ),
                literal_column("0"),
            )
        )
    )
)
_CURRENT_LIST = Query.compile(
    select(COLUMNS.list_id).where(_OWNER, COLUMNS.id == bindparam("todo_id"))
)
_LOCK_TODO = Query.compile(
    select(*PUBLIC).where(_OWNER, COLUMNS.id == bindparam("todo_id")).with_for_update()
)


def _neighbours(listed: bool) -> Query:
    """The positions around the place asked for: the `after` todo's and the next one's,
    the `before` todo's and the previous one's (NULL where there is none), the moved todo
    itself never counted."""
    in_list = (_OWNER, _in_list(listed), _OTHERS)

    def position_of(name: str) -> Any:  # noqa: ANN401  (a scalar subquery)
        return (
            select(COLUMNS.position)
            .where(*in_list, COLUMNS.id == bindparam(name, type_=Uuid()))
            .scalar_subquery()
        )

    after, before = position_of("after"), position_of("before")
    following = select(func.min(COLUMNS.position)).where(*in_list, COLUMNS.position > after)
    preceding = select(func.max(COLUMNS.position)).where(*in_list, COLUMNS.position < before)
    return Query.compile(
        select(
            after.label("after"),
            following.scalar_subquery().label("following"),
            before.label("before"),
            preceding.scalar_subquery().label("preceding"),
        )
    )


def _respace(listed: bool) -> Query:
    """The list's todos, in order, POSITION_GAP apart, ending where the list ends now:
    every position stays at most the list's highest, so the sequence's ends stay ends."""
    members = (
        select(
            COLUMNS.id,
            (
                func.max(COLUMNS.position).over()
                - (func.count().over() - func.row_number().over(order_by=COLUMNS.position))
                * literal_column(str(POSITION_GAP))
            ).label("respaced"),
        )
        .where(_OWNER, _in_list(listed))
        .subquery("members")
    )
    return Query.compile(
        update(TODOS)
        .where(_OWNER, COLUMNS.id == members.c.id, COLUMNS.position != members.c.respaced)
        .values(position=members.c.respaced)
        .returning(COLUMNS.id)
    )


def _place(listed: bool, *, at_the_end: bool) -> Query:
    position = AT_THE_END if at_the_end else bindparam("position", type_=BigInteger())
    list_id = bindparam("list_id", type_=Uuid()) if listed else literal_column("NULL")
    return Query.compile(
        update(TODOS)
        .where(_OWNER, COLUMNS.id == bindparam("todo_id"))
        .values(list_id=list_id, position=position, updated_at=NEXT_UPDATED_AT)
        .returning(*PUBLIC)
    )


_NEIGHBOURS = {listed: _neighbours(listed) for listed in (True, False)}
_RESPACE = {listed: _respace(listed) for listed in (True, False)}
_PLACE = {
    (listed, end): _place(listed, at_the_end=end)
    for listed in (True, False)
    for end in (True, False)
}


class _NoRoom(Exception):
    """The gap asked for has no integer left in it."""


def _between(low: int | None, high: int | None) -> int | None:
    """A position strictly between two (None: no bound on that side); None for the end."""
    if high is None:
        return None  # after the last todo: the end of the list
    if low is None:
        return high - POSITION_GAP
    if high - low < 2:
        raise _NoRoom
    return low + (high - low) // 2


def _target(
    row: Record | None,
    before: uuid.UUID | None,
    after: uuid.UUID | None,
) -> int | None:
    """The new position, from the neighbours' (None: the end of the list)."""
    assert row is not None  # noqa: S101  (a SELECT of scalar subqueries returns its row)
    if after is not None and row["after"] is None:
        raise InvalidInput("body.after", NOT_IN_THE_LIST.format(field="after"))
    if before is not None and row["before"] is None:
        raise InvalidInput("body.before", NOT_IN_THE_LIST.format(field="before"))
    if after is not None and before is not None:
        if row["following"] != row["before"]:
            raise InvalidInput("body", NOT_NEIGHBOURS)
        return _between(row["after"], row["before"])
    if after is not None:
        return _between(row["after"], row["following"])
    if before is not None:
        return _between(row["preceding"], row["before"])
    return None


async def _move_once(
    transaction: Transaction,
    user_id: str,
    todo_id: uuid.UUID,
    list_id: uuid.UUID | None,
    before: uuid.UUID | None,
    after: uuid.UUID | None,
    precondition: Precondition | None,
) -> TodoRecord:
    listed = list_id is not None
    list_key = str(list_id) if listed else ""
    await transaction.fetch_one(_LOCK, user_id=user_id, list_key=list_key)
    current = await transaction.fetch_one(_LOCK_TODO, user_id=user_id, todo_id=todo_id)
    if current is None:
        raise TodoNotFound
    if precondition is not None:
        precondition.check(current)
    values: dict[str, object] = {"user_id": user_id, "todo_id": todo_id}
    if listed:
        values["list_id"] = list_id
    position: int | None = None
    if before is not None or after is not None:
        for respaced in (False, True):
            row = await transaction.fetch_one(
                _NEIGHBOURS[listed], **values, before=before, after=after
            )
            try:
                position = _target(row, before, after)
                break
            except _NoRoom:
                if respaced:  # a freshly respaced list has room between any two
                    raise
                await transaction.fetch_all(
                    _RESPACE[listed], **{k: v for k, v in values.items() if k != "todo_id"}
                )
    query = _PLACE[listed, position is None]
    if position is not None:
        values["position"] = position
    row = await transaction.fetch_one(query, **values)
    assert row is not None  # noqa: S101  (the todo is locked: it is still there)
    return row


@dataclass(frozen=True, slots=True)
class Move:
    """Where a todo goes: into `list_id` (None: no list), just after `after` and/or just
    before `before` (both: they must be neighbours; neither: at the end of the list)."""

    list_id: uuid.UUID | None
    before: uuid.UUID | None = None
    after: uuid.UUID | None = None


async def move_todo(
    database: Database,
    user_id: str,
    todo_id: uuid.UUID,
    move: Move,
    *,
    precondition: Precondition | None = None,
) -> TodoRecord:
    """Put the user's todo where `move` says, in a transaction of its own (after the
    checks that need none); made again after a deadlock."""
    await _check(database, user_id, todo_id, move)
    attempt = 1
    while True:
        try:
            async with database.transaction() as transaction:
                return await _placed(transaction, user_id, todo_id, move, precondition)
        except asyncpg.DeadlockDetectedError:
            if attempt == _ATTEMPTS:
                raise
            attempt += 1


async def move_within(
    transaction: Transaction,
    user_id: str,
    todo_id: uuid.UUID,
    move: Move,
    *,
    precondition: Precondition | None = None,
) -> TodoRecord:
    """`move_todo` as one step of a larger transaction (a keyed request), which is the
    caller's to make again after a deadlock."""
    await _check(transaction, user_id, todo_id, move)
    return await _placed(transaction, user_id, todo_id, move, precondition)


async def _check(executor: Executor, user_id: str, todo_id: uuid.UUID, move: Move) -> None:
    for field, neighbour in (("before", move.before), ("after", move.after)):
        if neighbour == todo_id:
            raise InvalidInput(f"body.{field}", NOT_ITSELF.format(field=field))
    if move.list_id is not None and not await owned_list_ids(executor, user_id, [move.list_id]):
        raise InvalidInput("body.list_id", NOT_YOUR_LIST)


async def _placed(
    transaction: Transaction,
    user_id: str,
    todo_id: uuid.UUID,
    move: Move,
    precondition: Precondition | None,
) -> TodoRecord:
    try:
        return await _move_once(
            transaction, user_id, todo_id, move.list_id, move.before, move.after, precondition
        )
    except asyncpg.ForeignKeyViolationError:  # the list was deleted meanwhile
        raise InvalidInput("body.list_id", NOT_YOUR_LIST) from None


async def current_list(database: Database, user_id: str, todo_id: uuid.UUID) -> uuid.UUID | None:
    """The list a todo is in now (for a move that does not name one), or TodoNotFound."""
    row = await database.fetch_one(_CURRENT_LIST, user_id=user_id, todo_id=todo_id)
    if row is None:
        raise TodoNotFound
    list_id: uuid.UUID | None = row["list_id"]
    return list_id
