"""The todo, defined once: SQLModel classes that are both the `todos` table and the API schemas.

The field types below carry every input rule (trimming, lengths, no NUL characters), so the
table, the request bodies, the responses and the OpenAPI document cannot drift apart. The
database repeats the limits as constraints in the migrations, and a test compares the two.

A request body may hold only the fields a client writes (`TodoBase`'s), plus the ones the
API returns (`id`, `user_id`, `created_at`, `updated_at`), which are ignored, so a client
can send back a todo as it read it. Any other key is a 422 naming it: a typo such as
`completed` must not be a 201 that silently drops the value.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from annotated_types import MaxLen
from pydantic import (
    MISSING,
    AfterValidator,
    ConfigDict,
    Strict,
    StringConstraints,
    model_validator,
)
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    ColumnElement,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Sequence,
    SmallInteger,
    String,
    UniqueConstraint,
    false,
    func,
    literal_column,
    text,
)
from sqlmodel import Field, SQLModel

from todo_api.models.changes import change_xid_field
from todo_api.models.fields import (
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    NO_NUL_CHARACTER,
    NON_BLANK_TEXT,
    USER_ID_MAX_LENGTH,
    Instant,
    RequestBody,
    at_most,
    document_read_only_fields,
    nfc,
    trim,
)

TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 2000
TAG_MAX_LENGTH = 40
TAGS_MAX_COUNT = 20
# The todo the documentation shows everywhere (schemas, Swagger UI's "Try it out", ReDoc),
# so the pages look the same on every load instead of showing text generated from the
# patterns.
EXAMPLE_TITLE = "Buy milk"
EXAMPLE_DESCRIPTION = "2 litres, semi-skimmed"
EXAMPLE_TODO_ID = uuid.UUID("1b3f3c9e-6a39-4f8e-9a51-6e0f8f1f2b7a")
EXAMPLE_DUE_AT = "2026-11-27T17:00:00Z"
EXAMPLE_TAGS = ["errands", "home"]


def _normalize_title(title: str) -> str:
    return at_most(TITLE_MAX_LENGTH, trim(nfc(title)))


def _normalize_description(description: str) -> str:
    return at_most(DESCRIPTION_MAX_LENGTH, nfc(description))


# A title is checked as sent (at most 255 characters, not blank), then normalized to NFC
# and trimmed, so the documented maxLength holds for what clients send. MaxLen comes
# first: SQLModel reads the column length from the first length constraint.
Title = Annotated[
    str,
    MaxLen(TITLE_MAX_LENGTH),
    StringConstraints(min_length=1, pattern=NON_BLANK_TEXT),
    AfterValidator(_normalize_title),
]
# JSON has real booleans; "yes" or 1 is a client bug to report, not to guess at.
Completed = Annotated[bool, Strict()]
Description = Annotated[
    str,
    MaxLen(DESCRIPTION_MAX_LENGTH),
    StringConstraints(pattern=NO_NUL_CHARACTER),
    AfterValidator(_normalize_description),
]


# The order below is the sort order, and each value's place in it is what the table stores
# (a smallint, checked to be one of them), so a new value goes where it sorts, and needs a
# migration that renumbers.
class Priority(StrEnum):
    """How much a todo matters: `none` < `low` < `medium` < `high`."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def _normalize_tag(tag: str) -> str:
    """NFC, so a tag typed on two keyboards is one tag; then trimmed like a title."""
    return at_most(TAG_MAX_LENGTH, trim(nfc(tag)))


def _without_duplicates(tags: list[str]) -> list[str]:
    """The first spelling of each tag, compared in lower case, as PostgreSQL compares
    them when filtering (`lower()`, not the more thorough `casefold()`, which it lacks)."""
    seen: set[str] = set()
    unique = []
    for tag in tags:
        key = tag.lower()
        if key not in seen:
            seen.add(key)
            unique.append(tag)
    return unique


# A tag is checked as sent, like a title, then normalized.
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TAG_MAX_LENGTH, pattern=NON_BLANK_TEXT),
    AfterValidator(_normalize_tag),
]
Tags = Annotated[list[Tag], MaxLen(TAGS_MAX_COUNT), AfterValidator(_without_duplicates)]


class TodoCore(SQLModel):
    """The fields a todo had from the start, which every PUT sends."""

    title: Title = Field(schema_extra={"examples": [EXAMPLE_TITLE]})
    # SQLModel cannot see a length inside an Optional, so the column length is repeated here.
    description: Description | None = Field(
        default=None,
        max_length=DESCRIPTION_MAX_LENGTH,
        schema_extra={"examples": [EXAMPLE_DESCRIPTION]},
    )
    is_completed: Completed = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        schema_extra={"examples": [False]},
    )


class TodoPlanning(SQLModel):
    """The fields for planning, which a PUT may leave out."""

    # Stored as its place in `Priority` (see services/todo_columns.py, which maps both ways).
    priority: Priority = Field(
        default=Priority.NONE,
        sa_type=SmallInteger,
        sa_column_kwargs={"server_default": text("0")},
        schema_extra={"examples": [Priority.HIGH]},
    )
    due_at: Instant | None = Field(
        default=None,
        sa_type=DateTime(timezone=True),
        schema_extra={"examples": [EXAMPLE_DUE_AT]},
    )
    tags: Tags = Field(
        default_factory=list,
        sa_type=ARRAY(String(TAG_MAX_LENGTH)),
        sa_column_kwargs={"server_default": text("'{}'")},
        schema_extra={"examples": [EXAMPLE_TAGS]},
    )
    list_id: uuid.UUID | None = Field(
        default=None,
        description="The list it is in (one of the user's), or null for none.",
        schema_extra={"examples": [None]},
    )


class TodoBase(TodoPlanning, TodoCore):
    """The fields a client writes (TodoCore's first, in the schemas)."""


# Each sort is an index of its own (`_index_each_sort` below), so every page is a range
# of one index.
class Sort(StrEnum):
    """The listing's order: a field, descending when it starts with `-`. Outside the
    `created_at` orders, ties go to the newest `created_at`, then the larger `id`. Todos
    without `due_at` come last in both due orders. `position` is the user's own order of
    one list's todos (with `list_id`), which has no ties."""

    CREATED_AT_DESC = "-created_at"
    CREATED_AT = "created_at"
    UPDATED_AT_DESC = "-updated_at"
    UPDATED_AT = "updated_at"
    DUE_AT_DESC = "-due_at"
    DUE_AT = "due_at"
    PRIORITY_DESC = "-priority"
    PRIORITY = "priority"
    POSITION = "position"

    @property
    def key(self) -> str:
        """The column it orders by."""
        return self.value.removeprefix("-")

    @property
    def descending(self) -> bool:
        """Largest first."""
        return self.value.startswith("-")


def sort_key(sort: Sort, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """What `sort` orders by, given its key's column (or a value standing for one). Todos
    without `due_at` come last in both directions: a missing date is the end of time
    ascending, and its beginning descending."""
    if sort.key == "due_at":
        missing = "'-infinity'" if sort.descending else "'infinity'"
        return func.coalesce(column, literal_column(f"{missing}::timestamptz"))
    return column


# Where a todo is in its list's manual order (decision 0015): a new todo, or one moved to
# the end, takes the next value of this sequence times POSITION_GAP, which is larger than
# every position ever given; a move between two neighbours takes the middle of their gap.
POSITION_SEQUENCE = Sequence("todos_position_seq", metadata=SQLModel.metadata)
POSITION_GAP = 2**24
NEXT_POSITION = f"nextval('{POSITION_SEQUENCE.name}') * {POSITION_GAP}"


class Todo(TodoBase, table=True):
    """The `todos` table. `(user_id, id)` is the key: every access is by user, and a
    distributed PostgreSQL (Citus) can later shard on `user_id`. The list is referred to by
    `(user_id, list_id)`, so a todo can only ever be in a list of its own user's."""

    __tablename__ = "todos"
    __table_args__ = (
        CheckConstraint("btrim(title) <> ''", name="title_not_blank"),
        CheckConstraint(f"priority BETWEEN 0 AND {len(Priority) - 1}", name="priority_known"),
        CheckConstraint(f"cardinality(tags) <= {TAGS_MAX_COUNT}", name="tags_at_most_20"),
        Index(
            "ix_todos_user_id_created_at_id", "user_id", text("created_at DESC"), text("id DESC")
        ),
        # The change feed: one user's todos in the order of the transactions that wrote them.
        Index("ix_todos_user_id_change_xid_id", "user_id", "change_xid", "id"),
        ForeignKeyConstraint(
            ["user_id", "list_id"],
            ["lists.user_id", "lists.id"],
            name="fk_todos_user_id_list_id_lists",
        ),
        # No two todos at one place in a list ("no list" included: nulls not distinct).
        # Checked at the end of each statement (deferrable), so one UPDATE can respace a
        # whole list. It is also the index of `sort=position`.
        UniqueConstraint(
            "user_id",
            "list_id",
            "position",
            name="uq_todos_user_id_list_id_position",
            deferrable=True,
            initially="IMMEDIATE",
            postgresql_nulls_not_distinct=True,
        ),
    )

    user_id: str = Field(primary_key=True, max_length=USER_ID_MAX_LENGTH)
    id: uuid.UUID = Field(
        primary_key=True, sa_column_kwargs={"server_default": text("gen_random_uuid()")}
    )
    created_at: datetime = Field(
        sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": text("now()")}
    )
    updated_at: datetime = Field(
        sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": text("now()")}
    )
    completed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    position: int = Field(
        sa_type=BigInteger, sa_column_kwargs={"server_default": text(NEXT_POSITION)}
    )
    # The transaction that last wrote the row, for the change feed (models.changes).
    change_xid: int = change_xid_field()


def _index_each_sort() -> None:
    """One index per sort not by `created_at` (whose index serves both directions, read
    backwards for the oldest first) or `position` (the unique constraint's index), in
    exactly the sort's order."""
    columns = SQLModel.metadata.tables[Todo.__tablename__].c
    for sort in Sort:
        if sort.key in {"created_at", "position"}:
            continue
        key = sort_key(sort, columns[sort.key])
        Index(
            f"ix_todos_user_id_{sort.key}_{'desc' if sort.descending else 'asc'}",
            columns.user_id,
            key.desc() if sort.descending else key.asc(),
            columns.created_at.desc(),
            columns.id.desc(),
        )


_index_each_sort()


class TodoPublic(TodoBase):
    """A todo as the API returns it."""

    id: uuid.UUID = Field(schema_extra={"examples": [EXAMPLE_TODO_ID]})
    user_id: str = Field(schema_extra={"examples": [EXAMPLE_USER_ID]})
    created_at: datetime = Field(schema_extra={"examples": [EXAMPLE_TIME]})
    updated_at: datetime = Field(schema_extra={"examples": [EXAMPLE_TIME]})
    completed_at: datetime | None = Field(
        description="When `is_completed` last became true; null while open. Set by the server.",
        schema_extra={"examples": [None]},
    )


# What the API returns besides what a client writes. A body may carry them (a todo sent back
# as it was read); they are dropped before validation, so they never reach `model_dump()`.
READ_ONLY_FIELDS = frozenset(TodoPublic.model_fields.keys() - TodoBase.model_fields.keys())


class _RequestBody(RequestBody):
    """A body about a todo: the todo's read-only fields are ignored."""

    read_only_fields = READ_ONLY_FIELDS


class TodoCreate(TodoBase, _RequestBody):
    """POST body: a title, and optionally a description and a completion state."""


class _PlanningChanges(SQLModel):
    """The planning fields, each of which may be left out (see `_CoreChanges`)."""

    priority: Priority | MISSING = Field(
        default=MISSING, schema_extra={"examples": [Priority.HIGH]}
    )
    due_at: Instant | MISSING | None = Field(
        default=MISSING, schema_extra={"examples": [EXAMPLE_DUE_AT]}
    )
    tags: Tags | MISSING = Field(default=MISSING, schema_extra={"examples": [EXAMPLE_TAGS]})
    list_id: uuid.UUID | MISSING | None = Field(default=MISSING, schema_extra={"examples": [None]})


class TodoReplace(_PlanningChanges, TodoCore, _RequestBody):
    """PUT body: the original three fields are required (`description` may be null).
    The planning fields may be left out, and are then left as they are, so a client
    written before they existed cannot wipe them (specs/api.md, "PUT")."""

    description: Description | None = Field(schema_extra={"examples": [EXAMPLE_DESCRIPTION]})
    is_completed: Completed = Field(schema_extra={"examples": [False]})


class _CoreChanges(SQLModel):
    """The original fields, each of which may be left out.

    MISSING (not None) marks an absent field: it stays out of `model_dump()` and out of
    the schema's `required`, while an explicit null for `title` is still rejected."""

    title: Title | MISSING = Field(default=MISSING, schema_extra={"examples": [EXAMPLE_TITLE]})
    description: Description | MISSING | None = Field(
        default=MISSING, schema_extra={"examples": [EXAMPLE_DESCRIPTION]}
    )
    is_completed: Completed | MISSING = Field(default=MISSING, schema_extra={"examples": [True]})


class TodoPatch(_PlanningChanges, _CoreChanges, _RequestBody):
    """PATCH body: any subset of the fields; an absent field is left as it is.
    `description` and `due_at` may be null, which clears them; `tags` replaces the set."""


BULK_MAX_ITEMS = 100


class TodoBulkCreate(_RequestBody):
    """POST /todos/bulk body: 1 to 100 todos, created together or not at all."""

    todos: list[TodoCreate] = Field(
        min_length=1,
        max_length=BULK_MAX_ITEMS,
        schema_extra={"examples": [[{"title": EXAMPLE_TITLE}, {"title": "Call mum"}]]},
    )


def _document_one_field_required(schema: dict[str, Any], model: type[RequestBody]) -> None:
    document_read_only_fields(schema, model)
    writable = [name for name, field in schema["properties"].items() if not field.get("readOnly")]
    schema["anyOf"] = [{"required": [name]} for name in writable]


class TodoBulkChange(_RequestBody):
    """PATCH /todos body: the change to make to every matching todo; at least one field."""

    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid", json_schema_extra=_document_one_field_required
    )

    is_completed: Completed | MISSING = Field(default=MISSING, schema_extra={"examples": [True]})
    priority: Priority | MISSING = Field(
        default=MISSING, schema_extra={"examples": [Priority.HIGH]}
    )
    tags: Tags | MISSING = Field(default=MISSING, schema_extra={"examples": [EXAMPLE_TAGS]})

    @model_validator(mode="after")
    def _changes_something(self) -> "TodoBulkChange":
        if not self.model_fields_set:
            raise ValueError("Send at least one of is_completed, priority and tags to change.")
        return self


class TodoMove(RequestBody):
    """POST /todos/{todo_id}/move body: where the todo goes in the manual order.

    `after` names the todo it must come just after, `before` the one it must come just
    before; one is enough, both must be neighbours, and neither means the end of the
    list. Both are todos of the list it moves to."""

    list_id: uuid.UUID | MISSING | None = Field(
        default=MISSING,
        description="The list to move it to (null: no list). Left out: the list it is in.",
        schema_extra={"examples": [None]},
    )
    before: uuid.UUID | None = Field(
        default=None,
        description="The todo it must come just before, or null.",
        schema_extra={"examples": [None]},
    )
    after: uuid.UUID | None = Field(
        default=None,
        description="The todo it must come just after, or null.",
        schema_extra={"examples": [EXAMPLE_TODO_ID]},
    )


class TodoPage(SQLModel):
    """One page of a listing. `count` counts every item matching the filters, on all pages."""

    items: list[TodoPublic]
    count: int = Field(schema_extra={"examples": [1]})
    next_cursor: str | None = Field(schema_extra={"examples": [None]})


class TodoItems(SQLModel):
    """The todos a bulk create made, in the order they were sent."""

    items: list[TodoPublic]


class TodosUpdated(SQLModel):
    """How many todos a bulk change changed (those that already had the values are not
    counted, and keep their `updated_at`)."""

    updated: int = Field(schema_extra={"examples": [3]})


class TodosDeleted(SQLModel):
    """How many todos a bulk delete removed."""

    deleted: int = Field(schema_extra={"examples": [3]})


class PriorityCounts(SQLModel):
    """Todos per priority, every priority present (zeros included)."""

    none: int = Field(schema_extra={"examples": [4]})
    low: int = Field(schema_extra={"examples": [0]})
    medium: int = Field(schema_extra={"examples": [2]})
    high: int = Field(schema_extra={"examples": [1]})


class TagCount(SQLModel):
    """One tag, spelled as in its earliest-sorting todo, with how many todos carry it."""

    tag: str = Field(schema_extra={"examples": ["errands"]})
    open: int = Field(schema_extra={"examples": [2]})
    total: int = Field(schema_extra={"examples": [5]})


TAG_STATS_MAX = 50
LIST_STATS_MAX = 100


class ListCount(SQLModel):
    """One list (null: no list) with how many of the matching todos it holds."""

    list_id: uuid.UUID | None = Field(schema_extra={"examples": [None]})
    open: int = Field(schema_extra={"examples": [2]})
    total: int = Field(schema_extra={"examples": [4]})


class TodoStats(SQLModel):
    """Counts over the todos matching the filters."""

    total: int = Field(schema_extra={"examples": [7]})
    completed: int = Field(schema_extra={"examples": [3]})
    open: int = Field(schema_extra={"examples": [4]})
    overdue: int = Field(schema_extra={"examples": [1]}, description="Open and past `due_at`.")
    due_today: int = Field(
        schema_extra={"examples": [1]},
        description="Open and due on today's date in the time zone `tz`.",
    )
    by_priority: PriorityCounts
    by_tag: list[TagCount] = Field(
        description=f"The {TAG_STATS_MAX} tags on most todos, most first (then by name)."
    )
    by_list: list[ListCount] = Field(
        description=(
            f"The {LIST_STATS_MAX} lists holding most of the todos (null: those in no list), "
            "most first (then by id); lists without any are left out."
        )
    )
