"""HTTP for lists: parse the request, call the service with the path's `user_id`, shape
the response. Rules live in `todo_api.services.lists`."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from todo_api.api.conditional import (
    NOT_MODIFIED_RESPONSES,
    IfMatch,
    IfNoneMatch,
    not_modified,
    write_precondition,
)
from todo_api.api.errors import (
    BODY_ERROR_RESPONSES,
    CONFLICT_RESPONSES,
    ERROR_RESPONSES,
    IDEMPOTENCY_RESPONSES,
    PRECONDITION_RESPONSES,
)
from todo_api.api.idempotency import IdempotencyKey, once
from todo_api.api.parameters import ListId, UserId, database, nudge_purger
from todo_api.api.responses import JSONResponse, list_etag, list_page_response, list_response
from todo_api.api.routing import OrjsonRoute
from todo_api.api.todo_queries import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from todo_api.db.database import Executor
from todo_api.models.lists import TodoListCreate, TodoListPage, TodoListPatch, TodoListPublic
from todo_api.services import lists as service
from todo_api.services.cursor import CURSOR_MAX_LENGTH
from todo_api.services.lists import ListRecord, TodosOfDeletedList

router = APIRouter(prefix="/api/v1/users/{user_id}/lists", tags=["lists"], route_class=OrjsonRoute)


def _list_location(todo_list: ListRecord) -> str:
    """The list's URL (`user_id` percent-encoded as for a todo's)."""
    user = quote(todo_list["user_id"], safe=":@+~")
    return f"{router.prefix.replace('{user_id}', user)}/{todo_list['id']}"


class ListPageQuery(BaseModel):
    """A page of the lists. An unknown parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(
        default=PAGE_SIZE_DEFAULT, ge=1, le=PAGE_SIZE_MAX, description="Lists per page."
    )
    cursor: str | None = Field(
        default=None,
        max_length=CURSOR_MAX_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` from the previous page; omit for the first page.",
    )


class ListDeleteQuery(BaseModel):
    """What becomes of the todos of a deleted list. An unknown parameter is a 422."""

    model_config = ConfigDict(extra="forbid")

    todos: TodosOfDeletedList | None = Field(
        default=None,
        description=(
            "`delete`: delete them with the list; `unlist`: keep them, in no list. Left "
            "out, a list that holds todos is not deleted (409 `LIST_NOT_EMPTY`)."
        ),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TodoListPublic,
    responses={**BODY_ERROR_RESPONSES, **CONFLICT_RESPONSES, **IDEMPOTENCY_RESPONSES},
    summary="Create a list",
    operation_id="createList",
)
async def create_list(
    request: Request,
    user_id: UserId,
    data: TodoListCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Creates a list for `user_id`; the `Location` header is its URL. A name the user
    already has, in any case, is a 409 `CONFLICT`. With an `Idempotency-Key`, a retry gets
    this response again (not a 409)."""

    async def create(db: Executor) -> JSONResponse:
        todo_list = await service.create_list(db, user_id, data)
        return list_response(
            todo_list,
            status_code=status.HTTP_201_CREATED,
            headers={"Location": _list_location(todo_list)},
        )

    if idempotency_key is None:
        return await create(database(request))
    return await once(request, idempotency_key, user_id, data, create, one_item=True)


@router.get(
    "",
    response_model=TodoListPage,
    responses=ERROR_RESPONSES,
    summary="List lists",
    operation_id="listLists",
)
async def list_lists(
    request: Request, user_id: UserId, query: Annotated[ListPageQuery, Query()]
) -> JSONResponse:
    """`user_id`'s lists a page at a time, oldest first, each with its counts."""
    page = await service.list_lists(
        database(request), user_id, limit=query.limit, cursor=query.cursor
    )
    return list_page_response(page)


@router.get(
    "/{list_id}",
    response_model=TodoListPublic,
    responses={**ERROR_RESPONSES, **NOT_MODIFIED_RESPONSES},
    summary="Get a list",
    operation_id="getList",
)
async def get_list(
    request: Request, user_id: UserId, list_id: ListId, if_none_match: IfNoneMatch = None
) -> Response:
    """One of `user_id`'s lists, with its counts and its `ETag` (which changes with the
    counts too); 304 and no body while `If-None-Match` names it."""
    todo_list = await service.get_list(database(request), user_id, list_id)
    return not_modified(list_response(todo_list), if_none_match)


@router.patch(
    "/{list_id}",
    response_model=TodoListPublic,
    responses={**BODY_ERROR_RESPONSES, **CONFLICT_RESPONSES, **PRECONDITION_RESPONSES},
    summary="Rename a list",
    operation_id="patchList",
)
async def patch_list(
    request: Request,
    user_id: UserId,
    list_id: ListId,
    changes: TodoListPatch,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Renames the list; a name the user already has on another list is a 409."""
    precondition = write_precondition(request, if_match, list_etag)
    todo_list = await service.patch_list(
        database(request), user_id, list_id, changes, precondition=precondition
    )
    return list_response(todo_list)


@router.delete(
    "/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERROR_RESPONSES, **CONFLICT_RESPONSES, **PRECONDITION_RESPONSES},
    summary="Delete a list",
    operation_id="deleteList",
)
async def delete_list(
    request: Request,
    user_id: UserId,
    list_id: ListId,
    query: Annotated[ListDeleteQuery, Query()],
    if_match: IfMatch = None,
) -> None:
    """Deletes an empty list. One that holds todos needs `?todos=delete` (they go too) or
    `?todos=unlist` (they stay, in no list); otherwise it is a 409 `LIST_NOT_EMPTY`."""
    precondition = write_precondition(request, if_match, list_etag)
    await service.delete_list(
        database(request), user_id, list_id, todos=query.todos, precondition=precondition
    )
    nudge_purger(request)
