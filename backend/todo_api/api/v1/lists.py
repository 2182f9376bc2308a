"""HTTP for lists: parse the request, call the service with the path's `user_id`, shape
the response. Rules live in `todo_api.services.lists`."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from todo_api.api.errors import BODY_ERROR_RESPONSES, CONFLICT_RESPONSES, ERROR_RESPONSES
from todo_api.api.parameters import ListId, UserId, database
from todo_api.api.responses import JSONResponse, list_page_response, list_response
from todo_api.api.routing import OrjsonRoute
from todo_api.api.todo_queries import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
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
    responses={**BODY_ERROR_RESPONSES, **CONFLICT_RESPONSES},
    summary="Create a list",
    operation_id="createList",
)
async def create_list(request: Request, user_id: UserId, data: TodoListCreate) -> JSONResponse:
    """Creates a list for `user_id`; the `Location` header is its URL. A name the user
    already has, in any case, is a 409 `CONFLICT`."""
    todo_list = await service.create_list(database(request), user_id, data)
    return list_response(
        todo_list,
        status_code=status.HTTP_201_CREATED,
        headers={"Location": _list_location(todo_list)},
    )


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
    responses=ERROR_RESPONSES,
    summary="Get a list",
    operation_id="getList",
)
async def get_list(request: Request, user_id: UserId, list_id: ListId) -> JSONResponse:
    """One of `user_id`'s lists, with its counts."""
    return list_response(await service.get_list(database(request), user_id, list_id))


@router.patch(
    "/{list_id}",
    response_model=TodoListPublic,
    responses={**BODY_ERROR_RESPONSES, **CONFLICT_RESPONSES},
    summary="Rename a list",
    operation_id="patchList",
)
async def patch_list(
    request: Request, user_id: UserId, list_id: ListId, changes: TodoListPatch
) -> JSONResponse:
    """Renames the list; a name the user already has on another list is a 409."""
    return list_response(await service.patch_list(database(request), user_id, list_id, changes))


@router.delete(
    "/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ERROR_RESPONSES, **CONFLICT_RESPONSES},
    summary="Delete a list",
    operation_id="deleteList",
)
async def delete_list(
    request: Request,
    user_id: UserId,
    list_id: ListId,
    query: Annotated[ListDeleteQuery, Query()],
) -> None:
    """Deletes an empty list. One that holds todos needs `?todos=delete` (they go too) or
    `?todos=unlist` (they stay, in no list); otherwise it is a 409 `LIST_NOT_EMPTY`."""
    await service.delete_list(database(request), user_id, list_id, todos=query.todos)
