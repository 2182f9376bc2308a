"""HTTP for todos: parse the request, call the service with the path's `user_id`, shape
the response. Rules live in `todo_api.services.todos`."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, status

from todo_api.api.errors import BODY_ERROR_RESPONSES, ERROR_RESPONSES
from todo_api.api.parameters import TodoId, UserId, database
from todo_api.api.responses import JSONResponse, page_response, todo_response
from todo_api.api.routing import OrjsonRoute
from todo_api.models import (
    NO_NUL_CHARACTER,
    TodoCreate,
    TodoPage,
    TodoPatch,
    TodoPublic,
    TodoReplace,
)
from todo_api.services import todos as service
from todo_api.services.cursor import CURSOR_MAX_LENGTH, SortOrder
from todo_api.services.todos import TodoRecord

# The full prefix here, and the routes added straight to the app's (see register_routes):
# each level of router nesting costs route matching time on every request.
router = APIRouter(prefix="/api/v1/users/{user_id}/todos", tags=["todos"], route_class=OrjsonRoute)

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000
SEARCH_MAX_LENGTH = 255


def _todo_location(todo: TodoRecord) -> str:
    """The todo's URL; `user_id` may hold `|`, which must be percent-encoded in a path."""
    return f"{router.prefix.replace('{user_id}', quote(todo['user_id'], safe=':@+~'))}/{todo['id']}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TodoPublic,
    responses=BODY_ERROR_RESPONSES,
    summary="Create a todo",
    operation_id="createTodo",
)
async def create_todo(request: Request, user_id: UserId, data: TodoCreate) -> JSONResponse:
    """Creates a todo for `user_id`; the `Location` header is its URL."""
    todo = await service.create_todo(database(request), user_id, data)
    return todo_response(
        todo, status_code=status.HTTP_201_CREATED, headers={"Location": _todo_location(todo)}
    )


@router.get(
    "",
    response_model=TodoPage,
    responses=ERROR_RESPONSES,
    summary="List todos",
    operation_id="listTodos",
)
async def list_todos(
    request: Request,
    user_id: UserId,
    limit: Annotated[
        int, Query(ge=1, le=PAGE_SIZE_MAX, description="Items per page.")
    ] = PAGE_SIZE_DEFAULT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=CURSOR_MAX_LENGTH,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="`next_cursor` from the previous page; omit for the first page.",
        ),
    ] = None,
    is_completed: Annotated[
        bool | None, Query(description="Only completed, or only open, todos.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=SEARCH_MAX_LENGTH,
            pattern=NO_NUL_CHARACTER,
            description="Text in the title or description, any case; `%` and `_` are literal.",
        ),
    ] = None,
    order: Annotated[SortOrder, Query(description="`desc` is newest first.")] = "desc",
) -> JSONResponse:
    """Lists `user_id`'s todos a page at a time; `count` is the total matching the filters."""
    page = await service.list_todos(
        database(request),
        user_id,
        limit=limit,
        cursor=cursor,
        is_completed=is_completed,
        q=q,
        order=order,
    )
    return page_response(page)


@router.get(
    "/{todo_id}",
    response_model=TodoPublic,
    responses=ERROR_RESPONSES,
    summary="Get a todo",
    operation_id="getTodo",
)
async def get_todo(request: Request, user_id: UserId, todo_id: TodoId) -> JSONResponse:
    """One todo of `user_id`'s."""
    return todo_response(await service.get_todo(database(request), user_id, todo_id))


@router.put(
    "/{todo_id}",
    response_model=TodoPublic,
    responses=BODY_ERROR_RESPONSES,
    summary="Replace a todo",
    operation_id="replaceTodo",
)
async def replace_todo(
    request: Request, user_id: UserId, todo_id: TodoId, data: TodoReplace
) -> JSONResponse:
    """Sets every field: `title`, `description` (null allowed) and `is_completed`."""
    return todo_response(await service.replace_todo(database(request), user_id, todo_id, data))


@router.patch(
    "/{todo_id}",
    response_model=TodoPublic,
    responses=BODY_ERROR_RESPONSES,
    summary="Update some fields",
    operation_id="patchTodo",
)
async def patch_todo(
    request: Request, user_id: UserId, todo_id: TodoId, changes: TodoPatch
) -> JSONResponse:
    """Changes only the fields sent; `description: null` clears the description."""
    return todo_response(await service.patch_todo(database(request), user_id, todo_id, changes))


@router.patch(
    "/{todo_id}/complete",
    response_model=TodoPublic,
    responses=ERROR_RESPONSES,
    summary="Toggle completion",
    operation_id="toggleTodo",
)
async def toggle_completed(request: Request, user_id: UserId, todo_id: TodoId) -> JSONResponse:
    """Flips `is_completed`: open becomes completed and completed becomes open."""
    return todo_response(await service.toggle_completed(database(request), user_id, todo_id))


@router.delete(
    "/{todo_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERROR_RESPONSES,
    summary="Delete a todo",
    operation_id="deleteTodo",
)
async def delete_todo(request: Request, user_id: UserId, todo_id: TodoId) -> None:
    """Deletes the todo for good."""
    await service.delete_todo(database(request), user_id, todo_id)
