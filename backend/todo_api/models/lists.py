"""The list (a project: "Groceries", "Work"), defined once: SQLModel classes that are both
the `lists` table and the API schemas, like the todo's in `todos`.

A list's name follows a title's rules (NFC, trimmed, not blank), up to 100 characters, and
is unique per user without regard to case. A todo refers to a list by `(user_id,
list_id)`, a composite foreign key, so the database itself refuses a todo in another
user's list (see `todos.Todo`).
"""

import uuid
from datetime import datetime
from typing import Annotated

from annotated_types import MaxLen
from pydantic import MISSING, AfterValidator, StringConstraints
from sqlalchemy import CheckConstraint, DateTime, Index, func, text
from sqlmodel import Field, SQLModel

from todo_api.models.changes import change_xid_field
from todo_api.models.fields import (
    EXAMPLE_TIME,
    EXAMPLE_USER_ID,
    NON_BLANK_TEXT,
    USER_ID_MAX_LENGTH,
    RequestBody,
    at_most,
    nfc,
    trim,
)

LIST_NAME_MAX_LENGTH = 100
EXAMPLE_LIST_NAME = "Groceries"
EXAMPLE_LIST_ID = uuid.UUID("5d0c2a4e-8f1b-4c3d-9e2a-7b6f5a4c3d2e")


def _normalize_name(name: str) -> str:
    return at_most(LIST_NAME_MAX_LENGTH, trim(nfc(name)))


# Checked as sent, then normalized, like a title (see todos.Title).
ListName = Annotated[
    str,
    MaxLen(LIST_NAME_MAX_LENGTH),
    StringConstraints(min_length=1, pattern=NON_BLANK_TEXT),
    AfterValidator(_normalize_name),
]


class TodoListBase(SQLModel):
    """The fields a client writes."""

    name: ListName = Field(schema_extra={"examples": [EXAMPLE_LIST_NAME]})


class TodoList(TodoListBase, table=True):
    """The `lists` table. `(user_id, id)` is the key, as for todos, so both tables can be
    distributed by `user_id` and every todo stays on its list's shard."""

    __tablename__ = "lists"
    __table_args__ = (
        CheckConstraint("btrim(name) <> ''", name="name_not_blank"),
        # One "Groceries" per user, however it is capitalized.
        Index("uq_lists_user_id_lower_name", "user_id", func.lower(text("name")), unique=True),
        # The listing's order: oldest first.
        Index("ix_lists_user_id_created_at_id", "user_id", "created_at", "id"),
        # The change feed: one user's lists in the order of the transactions that wrote them.
        Index("ix_lists_user_id_change_xid_id", "user_id", "change_xid", "id"),
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
    # The transaction that last wrote the row, for the change feed (models.changes).
    change_xid: int = change_xid_field()


class TodoListPublic(TodoListBase):
    """A list as the API returns it, with its counts at the time of the request."""

    id: uuid.UUID = Field(schema_extra={"examples": [EXAMPLE_LIST_ID]})
    user_id: str = Field(schema_extra={"examples": [EXAMPLE_USER_ID]})
    created_at: datetime = Field(schema_extra={"examples": [EXAMPLE_TIME]})
    updated_at: datetime = Field(schema_extra={"examples": [EXAMPLE_TIME]})
    todo_count: int = Field(description="Todos in the list.", schema_extra={"examples": [3]})
    open_count: int = Field(
        description="Todos in the list not yet completed.", schema_extra={"examples": [2]}
    )


class _ListBody(RequestBody):
    """A body about a list: what the API returns besides `name` is ignored."""

    read_only_fields = frozenset(
        TodoListPublic.model_fields.keys() - TodoListBase.model_fields.keys()
    )


class TodoListCreate(TodoListBase, _ListBody):
    """POST body: a name."""


class TodoListPatch(_ListBody):
    """PATCH body: a new name; an empty body changes nothing."""

    name: ListName | MISSING = Field(default=MISSING, schema_extra={"examples": ["Work"]})


class TodoListPage(SQLModel):
    """One page of the user's lists, oldest first. `count` counts all of them."""

    items: list[TodoListPublic]
    count: int = Field(schema_extra={"examples": [1]})
    next_cursor: str | None = Field(schema_extra={"examples": [None]})
