"""HTTP for todos: parse the request, call the service with the path's `user_id`, shape
the response. Rules live in `todo_api.services.todos`."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, status

from todo_api.api.deps import DatabaseDep, TodoId, UserId
from todo_api.api.routing import OrjsonRoute
from todo_api.errors import BODY_ERROR_RESPONSES, ERROR_RESPONSES
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

# Each router sets its own route class: include_router keeps the class routes were made with.
router = APIRouter(prefix="/users/{user_id}/todos", tags=["todos"], route_class=OrjsonRoute)

PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000
SEARCH_MAX_LENGTH = 255


def _todo_location(todo: TodoPublic) -> str:
    """The todo's URL; `user_id` may hold `|`, which must be percent-encoded in a path."""
    return f"/api/v1/users/{quote(todo.user_id, safe=':@+~')}/todos/{todo.id}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=BODY_ERROR_RESPONSES,
    summary="Create a todo",
)
async def create_todo(
    user_id: UserId, data: TodoCreate, database: DatabaseDep, response: Response
) -> TodoPublic:
    """Creates a todo for `user_id`; the `Location` header is its URL."""
    todo = await service.create_todo(database, user_id, data)
    response.headers["Location"] = _todo_location(todo)
    return todo


@router.get("", responses=ERROR_RESPONSES, summary="List todos")
async def list_todos(
    user_id: UserId,
    database: DatabaseDep,
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
) -> TodoPage:
    """Lists `user_id`'s todos a page at a time; `count` is the total matching the filters."""
    return await service.list_todos(
        database, user_id, limit=limit, cursor=cursor, is_completed=is_completed, q=q, order=order
    )


@router.get("/{todo_id}", responses=ERROR_RESPONSES, summary="Get a todo")
async def get_todo(user_id: UserId, todo_id: TodoId, database: DatabaseDep) -> TodoPublic:
    """One todo of `user_id`'s."""
    return await service.get_todo(database, user_id, todo_id)


@router.put("/{todo_id}", responses=BODY_ERROR_RESPONSES, summary="Replace a todo")
async def replace_todo(
    user_id: UserId, todo_id: TodoId, data: TodoReplace, database: DatabaseDep
) -> TodoPublic:
    """Sets every field: `title`, `description` (null allowed) and `is_completed`."""
    return await service.replace_todo(database, user_id, todo_id, data)


@router.patch("/{todo_id}", responses=BODY_ERROR_RESPONSES, summary="Update some fields")
async def patch_todo(
    user_id: UserId, todo_id: TodoId, changes: TodoPatch, database: DatabaseDep
) -> TodoPublic:
    """Changes only the fields sent; `description: null` clears the description."""
    return await service.patch_todo(database, user_id, todo_id, changes)


@router.patch("/{todo_id}/complete", responses=ERROR_RESPONSES, summary="Toggle completion")
async def toggle_completed(user_id: UserId, todo_id: TodoId, database: DatabaseDep) -> TodoPublic:
    """Flips `is_completed`: open becomes completed and completed becomes open."""
    return await service.toggle_completed(database, user_id, todo_id)


@router.delete(
    "/{todo_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERROR_RESPONSES,
    summary="Delete a todo",
)
async def delete_todo(user_id: UserId, todo_id: TodoId, database: DatabaseDep) -> None:
    """Deletes the todo for good."""
    await service.delete_todo(database, user_id, todo_id)
