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
from sqlalchemy import CheckConstraint, DateTime, Index, MetaData, false, text
from sqlmodel import Field, SQLModel

# PostgreSQL text cannot hold U+0000, so a NUL must be a 422 at the edge, not a 500 in the driver.
NO_NUL_CHARACTER = r"^[^\x00]*$"
TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 2000
USER_ID_MAX_LENGTH = 128
# At least one character that is not a dot: `.` and `..` would be path dot segments.
USER_ID_PATTERN = r"^[A-Za-z0-9._~:@|+\-]*[A-Za-z0-9_~:@|+\-][A-Za-z0-9._~:@|+\-]*$"

# What a title loses at both ends: Unicode's White_Space property, spelled out because
# `\s` means something else in each regex engine (Python's includes U+001C..U+001F,
# JavaScript's U+FEFF, JSON Schema validators use either).
_WHITE_SPACE_CLASS = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# No NUL anywhere, and at least one character that survives the trimming.
NON_BLANK_TEXT = rf"^[^\x00]*[^\x00{_WHITE_SPACE_CLASS}][^\x00]*$"

# The todo the documentation shows everywhere (schemas, Swagger UI's "Try it out", ReDoc),
# so the pages look the same on every load instead of showing text generated from the
# patterns.
EXAMPLE_TITLE = "Buy milk"
EXAMPLE_DESCRIPTION = "2 litres, semi-skimmed"
EXAMPLE_USER_ID = "alice"
EXAMPLE_TODO_ID = uuid.UUID("1b3f3c9e-6a39-4f8e-9a51-6e0f8f1f2b7a")
EXAMPLE_TIME = "2026-11-23T09:15:02.123456Z"


def _trim(text: str) -> str:
    return text.strip(WHITE_SPACE)


# A title is checked as sent (at most 255 characters, not blank), then trimmed, so the
# documented maxLength holds for what clients send. MaxLen comes first: SQLModel reads
# the column length from the first length constraint.
Title = Annotated[
    str,
    MaxLen(TITLE_MAX_LENGTH),
    StringConstraints(min_length=1, pattern=NON_BLANK_TEXT),
    AfterValidator(_trim),
]
# JSON has real booleans; "yes" or 1 is a client bug to report, not to guess at.
Completed = Annotated[bool, Strict()]
Description = Annotated[
    str, MaxLen(DESCRIPTION_MAX_LENGTH), StringConstraints(pattern=NO_NUL_CHARACTER)
]

# Constraint names are stable and predictable, so migrations can refer to them.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class TodoBase(SQLModel):
    """The fields a client writes."""

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


class Todo(TodoBase, table=True):
    """The `todos` table. `(user_id, id)` is the key: every access is by user, and a
    distributed PostgreSQL (Citus) can later shard on `user_id`."""

    __tablename__ = "todos"
    __table_args__ = (
        CheckConstraint("btrim(title) <> ''", name="title_not_blank"),
        Index(
            "ix_todos_user_id_created_at_id", "user_id", text("created_at DESC"), text("id DESC")
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


class TodoPublic(TodoBase):
    """A todo as the API returns it."""

    id: uuid.UUID = Field(schema_extra={"examples": [EXAMPLE_TODO_ID]})
    user_id: str = Field(schema_extra={"examples": [EXAMPLE_USER_ID]})
    created_at: datetime = Field(schema_extra={"examples": [EXAMPLE_TIME]})
    updated_at: datetime = Field(schema_extra={"examples": [EXAMPLE_TIME]})


# What the API returns besides what a client writes. A body may carry them (a todo sent back
# as it was read); they are dropped before validation, so they never reach `model_dump()`.
READ_ONLY_FIELDS = frozenset(TodoPublic.model_fields.keys() - TodoBase.model_fields.keys())


def _document_read_only_fields(schema: dict[str, Any]) -> None:
    """List the ignored fields in a body's schema as `readOnly` (OpenAPI: "SHOULD NOT be
    sent", which Swagger UI, ReDoc and schemathesis honour), of any value, so the document
    allows exactly what the server accepts next to `additionalProperties: false`."""
    properties: dict[str, Any] = schema["properties"]
    for name in sorted(READ_ONLY_FIELDS):
        properties[name] = {
            "readOnly": True,
            "description": "Returned by the API; ignored if sent.",
        }


class _RequestBody(SQLModel):
    """What POST, PUT and PATCH bodies share: unknown keys are rejected, read-only ones
    ignored."""

    # SQLModel's config type is not exported; pydantic merges this with SQLModel's own.
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid", json_schema_extra=_document_read_only_fields
    )

    @model_validator(mode="before")
    @classmethod
    def _ignore_read_only_fields(cls, data: object) -> object:
        if isinstance(data, dict) and not READ_ONLY_FIELDS.isdisjoint(data):
            return {name: value for name, value in data.items() if name not in READ_ONLY_FIELDS}
        return data


class TodoCreate(TodoBase, _RequestBody):
    """POST body: a title, and optionally a description and a completion state."""


class TodoReplace(TodoBase, _RequestBody):
    """PUT body: a full replacement, so every field is required (`description` may be null)."""

    description: Description | None = Field(schema_extra={"examples": [EXAMPLE_DESCRIPTION]})
    is_completed: Completed = Field(schema_extra={"examples": [False]})


class TodoPatch(_RequestBody):
    """PATCH body: any subset of the fields; an absent field is left as it is.
    Only `description` may be null, which clears it."""

    # MISSING (not None) marks an absent field: it stays out of `model_dump()` and out of
    # the schema's `required`, while an explicit null for `title` is still rejected.

    title: Title | MISSING = Field(default=MISSING, schema_extra={"examples": [EXAMPLE_TITLE]})
    description: Description | MISSING | None = Field(
        default=MISSING, schema_extra={"examples": [EXAMPLE_DESCRIPTION]}
    )
    is_completed: Completed | MISSING = Field(default=MISSING, schema_extra={"examples": [True]})


class TodoPage(SQLModel):
    """One page of a listing. `count` counts every item matching the filters, on all pages."""

    items: list[TodoPublic]
    count: int = Field(schema_extra={"examples": [1]})
    next_cursor: str | None = Field(schema_extra={"examples": [None]})
