"""HTTP for the change feed: parse the request, call the service with the path's `user_id`,
shape the answer. The rules live in `todo_api.services.changes`; how a client syncs is
in specs/change-feed.md."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from todo_api.api.errors import ERROR_RESPONSES, RESYNC_RESPONSES
from todo_api.api.parameters import UserId, database
from todo_api.api.responses import JSONResponse, change_page_response
from todo_api.api.routing import OrjsonRoute
from todo_api.models.changes import ChangeType
from todo_api.models.lists import TodoListPublic
from todo_api.models.todos import EXAMPLE_TODO_ID, TodoPublic
from todo_api.services import changes as service
from todo_api.services.changes import SINCE_MAX_LENGTH

FEED_PAGE_DEFAULT = 100
FEED_PAGE_MAX = 1000

router = APIRouter(
    prefix="/api/v1/users/{user_id}/changes", tags=["changes"], route_class=OrjsonRoute
)


class Change(SQLModel):
    """One changed item: a todo or a list as it is now (`data`), or a tombstone (`data`
    null, `deleted_at` set) for one that was deleted."""

    type: Literal["todo", "list"] = Field(schema_extra={"examples": [ChangeType.TODO.value]})
    id: uuid.UUID = Field(schema_extra={"examples": [EXAMPLE_TODO_ID]})
    deleted_at: datetime | None = Field(
        description="When it was deleted; null unless this is a tombstone.",
        schema_extra={"examples": [None]},
    )
    data: TodoPublic | TodoListPublic | None = Field(
        description=(
            "The todo or list, as the other endpoints return it (a list's counts as of "
            "this answer); null for a tombstone."
        )
    )


class ChangePage(SQLModel):
    """One answer of the feed."""

    items: list[Change]
    next: str = Field(
        description=(
            "The token for the next request, as `since`: the rest of this pass when "
            "`has_more`, otherwise the changes after this answer."
        ),
        schema_extra={"examples": ["AQEAAAAAAAA"]},
    )
    has_more: bool = Field(
        description="More changes are waiting: ask again with `next` right away.",
        schema_extra={"examples": [False]},
    )


class ChangeQuery(BaseModel):
    """Where the sync stands, and how much to send. An unknown parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    since: str | None = PydanticField(
        default=None,
        max_length=SINCE_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description=(
            "`next` from the previous answer; omit it to get every current todo and list "
            "(the first sync, or after a 410)."
        ),
    )
    limit: int = PydanticField(
        default=FEED_PAGE_DEFAULT, ge=1, le=FEED_PAGE_MAX, description="Items per answer."
    )


@router.get(
    "",
    response_model=ChangePage,
    responses={**ERROR_RESPONSES, **RESYNC_RESPONSES},
    summary="Changes since the last sync",
    operation_id="listChanges",
)
async def list_changes(
    request: Request, user_id: UserId, query: Annotated[ChangeQuery, Query()]
) -> JSONResponse:
    """`user_id`'s todos and lists that changed since `since`: those created or updated
    as they are now, those deleted as tombstones. Without `since`, every current todo and
    list. Ask again with `next` while `has_more`; keep `next` for the next sync. A token
    older than the deletions kept (TOMBSTONE_RETENTION) is a 410 `RESYNC_REQUIRED`: sync
    again without `since`."""
    page = await service.changes(
        database(request),
        user_id,
        since=query.since,
        limit=query.limit,
        retention=request.app.state.tombstone_retention,
    )
    return change_page_response(page)
