"""The query strings of the todo collection: the filters, shared by the listing, the stats
and the bulk changes, and what each of those adds. Each is one pydantic model, so the
OpenAPI document, the validation and the service's `TodoFilters` come from one place."""

import uuid
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from todo_api.errors import InvalidInput
from todo_api.models.fields import NO_NUL_CHARACTER, Instant, TimeZoneName, nfc
from todo_api.models.lists import EXAMPLE_LIST_ID
from todo_api.models.todos import TAGS_MAX_COUNT, Priority, Sort, Tag
from todo_api.services.cursor import CURSOR_MAX_LENGTH
from todo_api.services.todo_filters import TodoFilters

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000
SEARCH_MAX_LENGTH = 255
ORDER_SORTS = {"desc": Sort.CREATED_AT_DESC, "asc": Sort.CREATED_AT}


class TodoFilterQuery(BaseModel):
    """Which todos: every filter given must hold."""

    is_completed: bool | None = Field(
        default=None, description="Only completed, or only open, todos."
    )
    q: Annotated[
        str | None,
        Field(
            max_length=SEARCH_MAX_LENGTH,
            pattern=NO_NUL_CHARACTER,
            description="Text in the title or description, any case; `%` and `_` are literal.",
        ),
        AfterValidator(lambda text: text and nfc(text)),
    ] = None
    priority: list[Priority] = Field(
        default=[], description="Repeatable: todos with any of these priorities."
    )
    tag: list[Tag] = Field(
        default=[],
        max_length=TAGS_MAX_COUNT,
        description="Repeatable: todos carrying every one of these tags, in any case.",
    )
    due_before: Instant | None = Field(
        default=None, description="Due strictly before this instant (todos without one never)."
    )
    due_after: Instant | None = Field(
        default=None, description="Due at or after this instant (todos without one never)."
    )
    overdue: bool | None = Field(
        default=None,
        description="`true`: open todos whose `due_at` has passed; `false`: all the others.",
    )
    list_id: uuid.UUID | Literal["none"] | None = Field(
        default=None, description="The todos of this list, or `none` for those in no list."
    )

    @field_validator("list_id", mode="wrap")
    @classmethod
    def _one_sentence_for_list_id(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> object:
        """One error, not one per member of the union (a UUID, or `none`)."""
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(f"must be a list's id, such as {EXAMPLE_LIST_ID}, or none") from None

    def filters(self) -> TodoFilters:
        """The service's view of these filters."""
        return TodoFilters(
            is_completed=self.is_completed,
            q=self.q,
            priorities=tuple(self.priority),
            tags=tuple(self.tag),
            due_before=self.due_before,
            due_after=self.due_after,
            overdue=self.overdue,
            list_id=self.list_id,
        )


class TodoListQuery(TodoFilterQuery):
    """A page of the listing. Unknown parameters are ignored, as they always were."""

    limit: int = Field(
        default=PAGE_SIZE_DEFAULT, ge=1, le=PAGE_SIZE_MAX, description="Items per page."
    )
    cursor: Annotated[
        str | None,
        Field(
            max_length=CURSOR_MAX_LENGTH,
            pattern=r"^[A-Za-z0-9_-]+$",
            description=(
                "`next_cursor` from the previous page, with the same sort and filters; "
                "omit for the first page."
            ),
        ),
    ] = None
    sort: Sort | None = Field(
        default=None,
        description=(
            "The order, `-` first for descending; the default is `-created_at`, newest "
            "first. Ties go to the newest `created_at`. Todos without `due_at` come last "
            "in both due orders. `position` is the user's own order of one list, and "
            "needs `list_id`."
        ),
    )
    order: Literal["asc", "desc"] | None = Field(
        default=None,
        description="The older spelling of `sort`: `asc` is `created_at`, `desc` `-created_at`.",
    )

    def resolved_sort(self) -> Sort:
        """`sort`, or what `order` means; both at once is a contradiction to report."""
        if self.order is not None and self.sort is not None:
            raise InvalidInput(
                "query.order",
                "Send sort or order, not both: order=asc is sort=created_at and order=desc "
                "is sort=-created_at.",
            )
        if self.order is not None:
            return ORDER_SORTS[self.order]
        return self.sort or Sort.CREATED_AT_DESC


class TodoStatsQuery(TodoFilterQuery):
    """The stats of what a listing with these filters shows."""

    tz: TimeZoneName = Field(
        default="UTC",
        description='IANA time zone whose calendar day is "today", such as `Europe/Paris`.',
    )


class TodoBulkQuery(TodoFilterQuery):
    """The todos a bulk change or delete applies to. An unknown parameter is a 422: a
    misspelt filter must not widen what is changed to every todo."""

    model_config = ConfigDict(extra="forbid")
