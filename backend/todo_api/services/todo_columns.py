"""How each field of a todo is read from and written to its column, in SQL.

Most fields are their column. A priority is stored as its place in `Priority` (0 for
`none` up to 3 for `high`: compact, and ordered the way it sorts), so it is turned into
its name when read and back into its place when written, both in the statement itself.
Every statement of the services uses these, so the mapping is written once, here.

`completed_at` is never written by a client: the statements that may change
`is_completed` set it from the old and the new value (`completion_time`).
"""

from typing import Any

from sqlalchemy import (
    ColumnElement,
    SmallInteger,
    String,
    Text,
    case,
    cast,
    func,
    literal_column,
    null,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine
from sqlmodel import SQLModel

from todo_api.models.todos import NEXT_POSITION, Priority, TodoPublic

TODOS = SQLModel.metadata.tables["todos"]
COLUMNS = TODOS.c

# Tags travel as text[], which asyncpg decodes and encodes by itself. For the column's own
# type, varchar(40)[], it would first ask the server about the type, three round trips on
# every new connection.
TEXT_ARRAY = ARRAY(Text)
# Written into the SQL, not sent as a parameter: every statement spells the same array.
_PRIORITY_NAMES = literal_column(
    "(ARRAY[{}]::text[])".format(", ".join(f"'{priority.value}'" for priority in Priority)),
    ARRAY(String),
)
_ONE: ColumnElement[Any] = literal_column("1")
# updated_at only moves forwards, even when writers race for the same row: a writer that
# waited for another's row lock sees that writer's value and goes one microsecond past it.
# The expression depends only on the statement and the row, so `completed_at` set by the
# same write (the same expression) is exactly its `updated_at`.
NEXT_UPDATED_AT = func.greatest(
    func.statement_timestamp(), COLUMNS.updated_at + literal_column("interval '1 microsecond'")
)


# The end of any list: larger than every position given so far (models.todos.Todo).
AT_THE_END: ColumnElement[Any] = literal_column(NEXT_POSITION)


def position_after_list_change(new_list_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """A todo that changes lists goes to the end of its new one; otherwise it stays."""
    return case((COLUMNS.list_id.is_distinct_from(new_list_id), AT_THE_END), else_=COLUMNS.position)


def priority_name(rank: ColumnElement[Any]) -> ColumnElement[Any]:
    """`high` for 3: PostgreSQL arrays count from 1."""
    return _PRIORITY_NAMES[rank + _ONE]


def priority_rank(name: ColumnElement[Any]) -> ColumnElement[Any]:
    """3 for `high`; NULL (refused by the column) for anything else."""
    return cast(func.array_position(_PRIORITY_NAMES, cast(name, String)) - _ONE, SmallInteger)


def readable(name: str) -> ColumnElement[Any]:
    """The column of field `name`, as the API shows it."""
    if name == "priority":
        return priority_name(COLUMNS.priority).label("priority")
    if name == "tags":
        return cast(COLUMNS.tags, TEXT_ARRAY).label("tags")
    return COLUMNS[name]


def stored(name: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """`value` (a client's value for field `name`) as its column holds it."""
    if name == "priority":
        return priority_rank(value)
    if name == "tags":  # the column's varchar(40)[] checks each tag's length on assignment
        return cast(value, TEXT_ARRAY)
    return value


def current(name: str) -> ColumnElement[Any]:
    """The column of field `name`, comparable with what `stored` makes of a new value."""
    if name == "tags":
        return cast(COLUMNS.tags, TEXT_ARRAY)
    return COLUMNS[name]


def given_type(name: str) -> TypeEngine[Any]:
    """The SQL type of a client's value for field `name`, before `stored` maps it."""
    if name == "priority":
        return String()
    return COLUMNS[name].type


def completion_time(
    now_completed: ColumnElement[Any], *, was_completed: ColumnElement[Any] | None = None
) -> ColumnElement[Any]:
    """The new `completed_at`: the write's time when the todo becomes completed, NULL when
    it becomes open, and unchanged when it stays completed. `was_completed` is absent for
    an insert."""
    if was_completed is None:
        return case((now_completed, func.now()), else_=null())
    return case(
        (~now_completed, null()),
        (was_completed, COLUMNS.completed_at),
        else_=NEXT_UPDATED_AT,
    )


# What every statement returns: the public fields, in the schema's order.
PUBLIC = tuple(readable(name) for name in TodoPublic.model_fields)
# Each priority's place, for statements that compare with stored values directly.
RANKS: dict[Priority, int] = {priority: rank for rank, priority in enumerate(Priority)}
