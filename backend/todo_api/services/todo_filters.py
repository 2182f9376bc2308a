"""Which of a user's todos a request is about: the listing's filters, shared by the
listing, the stats and the bulk changes, so "what I see" and "what I change" are the same
set by construction.

A filter is SQL with named parameters, all named `match_...`, so they never collide with
the values of a write they are combined with (a bulk PATCH of `is_completed` filtered by
`is_completed`). Each combination of filters in use (its `shape`)
is one statement variant, compiled once by the caller; the values travel as parameters.
"""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, bindparam, func, or_, select, text, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY

from todo_api.models.todos import Priority
from todo_api.services.todo_columns import COLUMNS, RANKS, TEXT_ARRAY

_LIKE_ESCAPE = "\\"
# now() is the statement's start: every row of one request is judged at the same instant.
_OVERDUE = (~COLUMNS.is_completed) & (COLUMNS.due_at < func.now())


def _escape_like(text: str) -> str:
    """Make `%` and `_` in a search term match themselves."""
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _lowered(array: ColumnElement[Any]) -> ColumnElement[Any]:
    """The array's strings in lower case, by the database's own rules on both sides."""
    element = func.unnest(array).table_valued("tag").render_derived(name="t")
    lowered = select(func.array_agg(func.lower(element.c.tag))).scalar_subquery()
    return type_coerce(lowered, ARRAY(String))


@dataclass(frozen=True, slots=True)
class TodoFilters:
    """Conditions on the user's todos; every one given must hold. Empty means all."""

    is_completed: bool | None = None
    q: str | None = None
    priorities: Sequence[Priority] = field(default=())
    # The todo must carry every one, compared without regard to case.
    tags: Sequence[str] = field(default=())
    due_before: datetime | None = None  # exclusive
    due_after: datetime | None = None  # inclusive
    overdue: bool | None = None
    # One list's todos, or ("none") those in no list.
    list_id: uuid.UUID | Literal["none"] | None = None

    @property
    def shape(self) -> tuple[str, ...]:
        """The filters in use: what picks the statement variant."""
        return tuple(name for name, value in self._given().items() if value is not None)

    def _given(self) -> dict[str, object]:
        return {
            "is_completed": self.is_completed,
            "q": self.q or None,
            "priorities": tuple(self.priorities) or None,
            "tags": tuple(self.tags) or None,
            "due_before": self.due_before,
            "due_after": self.due_after,
            "overdue": self.overdue,
            "list_id": self.list_id if isinstance(self.list_id, uuid.UUID) else None,
            "no_list": True if self.list_id == "none" else None,
        }

    @property
    def one_list(self) -> bool:
        """The todos of one list (or of no list): what a manual order orders."""
        return self.list_id is not None

    @property
    def is_empty(self) -> bool:
        """No filter at all: every todo of the user."""
        return not self.shape

    def values(self) -> dict[str, object]:
        """The parameters of `conditions(self.shape)`."""
        values: dict[str, object] = {}
        if self.is_completed is not None:
            values["match_is_completed"] = self.is_completed
        if self.q:
            values["match_pattern"] = f"%{_escape_like(self.q)}%"
        if self.priorities:
            values["match_priorities"] = sorted({RANKS[priority] for priority in self.priorities})
        if self.tags:
            values["match_tags"] = list(self.tags)
        if self.due_before is not None:
            values["match_due_before"] = self.due_before
        if self.due_after is not None:
            values["match_due_after"] = self.due_after
        if self.overdue is not None:
            values["match_overdue"] = self.overdue
        if isinstance(self.list_id, uuid.UUID):
            values["match_list_id"] = self.list_id
        return values

    def fingerprint(self) -> bytes:
        """A digest of the filters' meaning, for binding a cursor to them: the same for
        the same set however it is spelled (order, repetition, case of tags)."""
        canonical = repr(
            (
                self.is_completed,
                self.q or None,
                sorted({priority.value for priority in self.priorities}),
                sorted({tag.lower() for tag in self.tags}),
                self.due_before.isoformat() if self.due_before else None,
                self.due_after.isoformat() if self.due_after else None,
                self.overdue,
                str(self.list_id),
            )
        )
        return hashlib.blake2b(canonical.encode(), digest_size=8).digest()


def conditions(shape: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """The WHERE conditions, besides the owner, for filters of this shape."""
    found: list[ColumnElement[bool]] = []
    if "is_completed" in shape:
        found.append(COLUMNS.is_completed == bindparam("match_is_completed"))
    if "q" in shape:
        pattern: Any = bindparam("match_pattern")
        found.append(
            or_(
                COLUMNS.title.ilike(pattern, escape=_LIKE_ESCAPE),
                COLUMNS.description.ilike(pattern, escape=_LIKE_ESCAPE),
            )
        )
    if "priorities" in shape:
        found.append(COLUMNS.priority == func.any(bindparam("match_priorities")))
    if "tags" in shape:
        wanted = bindparam("match_tags", type_=TEXT_ARRAY)
        found.append(_lowered(COLUMNS.tags).contains(_lowered(wanted)))
    if "due_before" in shape:
        found.append(COLUMNS.due_at < bindparam("match_due_before"))
    if "due_after" in shape:
        found.append(COLUMNS.due_at >= bindparam("match_due_after"))
    if "overdue" in shape:
        # Never NULL (a todo without due_at is not overdue), so `false` is the exact rest.
        is_overdue = func.coalesce(_OVERDUE, text("false"))
        found.append(is_overdue == bindparam("match_overdue"))
    if "list_id" in shape:
        found.append(COLUMNS.list_id == bindparam("match_list_id"))
    if "no_list" in shape:
        found.append(COLUMNS.list_id.is_(None))
    return found
