"""HTTP for todos: parse the request, call the service with the path's `user_id`, shape
the response. Rules live in `todo_api.services.todos`."""

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, status
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
    ERROR_RESPONSES,
    IDEMPOTENCY_RESPONSES,
    PRECONDITION_RESPONSES,
)
from todo_api.api.idempotency import IdempotencyKey, insert_once, once
from todo_api.api.parameters import TodoId, UserId, database, nudge_purger
from todo_api.api.responses import (
    JSONResponse,
    items_response,
    page_response,
    revived_todo,
    todo_etag,
    todo_response,
)
from todo_api.api.routing import OrjsonRoute
from todo_api.api.todo_queries import TodoBulkQuery, TodoListQuery, TodoStatsQuery
from todo_api.db.database import Executor, Transaction
from todo_api.models.todos import (
    TodoBulkChange,
    TodoBulkCreate,
    TodoCreate,
    TodoItems,
    TodoMove,
    TodoPage,
    TodoPatch,
    TodoPublic,
    TodoReplace,
    TodosDeleted,
    TodoStats,
    TodosUpdated,
)
from todo_api.services import todo_listing as listing
from todo_api.services import todo_moves as moves
from todo_api.services import todo_stats as stats
from todo_api.services import todos as service
from todo_api.services.idempotency import Inserted
from todo_api.services.todos import TodoRecord

# The full prefix here, and the routes added straight to the app's (see register_routes):
# each level of router nesting costs route matching time on every request.
router = APIRouter(prefix="/api/v1/users/{user_id}/todos", tags=["todos"], route_class=OrjsonRoute)


_KEYED_RESPONSES = {**BODY_ERROR_RESPONSES, **IDEMPOTENCY_RESPONSES}
_CONDITIONAL_RESPONSES = {**ERROR_RESPONSES, **PRECONDITION_RESPONSES}
_CONDITIONAL_BODY_RESPONSES = {**BODY_ERROR_RESPONSES, **PRECONDITION_RESPONSES}


def _todo_location(todo: TodoRecord | Mapping[str, Any]) -> str:
    """The todo's URL; `user_id` may hold `|`, which must be percent-encoded in a path."""
    return f"{router.prefix.replace('{user_id}', quote(todo['user_id'], safe=':@+~'))}/{todo['id']}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TodoPublic,
    responses=_KEYED_RESPONSES,
    summary="Create a todo",
    operation_id="createTodo",
)
async def create_todo(
    request: Request, user_id: UserId, data: TodoCreate, idempotency_key: IdempotencyKey = None
) -> Response:
    """Creates a todo for `user_id`; the `Location` header is its URL. With an
    `Idempotency-Key`, a retry gets this response again instead of a second todo."""

    db = database(request)
    if idempotency_key is None:
        return _created(await service.create_todo(db, user_id, data))

    async def insert(key: str, request_fingerprint: bytes) -> Inserted:
        return await service.create_todo_once(
            db, user_id, data, key=key, request_fingerprint=request_fingerprint
        )

    return await insert_once(request, idempotency_key, data, insert, _created, revived_todo)


def _created(todo: TodoRecord | Mapping[str, Any]) -> JSONResponse:
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
    request: Request, user_id: UserId, query: Annotated[TodoListQuery, Query()]
) -> JSONResponse:
    """Lists `user_id`'s todos a page at a time; `count` is the total matching the filters.
    Follow `next_cursor` with the same sort and filters for the next page."""
    page = await listing.list_todos(
        database(request),
        user_id,
        filters=query.filters(),
        sort=query.resolved_sort(),
        limit=query.limit,
        cursor=query.cursor,
    )
    return page_response(page)


@router.patch(
    "",
    response_model=TodosUpdated,
    responses=BODY_ERROR_RESPONSES,
    summary="Change every matching todo",
    operation_id="patchTodos",
)
async def patch_todos(
    request: Request,
    user_id: UserId,
    query: Annotated[TodoBulkQuery, Query()],
    change: TodoBulkChange,
) -> JSONResponse:
    """Applies the body to every todo matching the filters (none given: all of the user's),
    in one statement. `updated` counts the todos that changed."""
    updated = await service.update_todos(database(request), user_id, query.filters(), change)
    return JSONResponse({"updated": updated})


@router.delete(
    "",
    response_model=TodosDeleted,
    responses=ERROR_RESPONSES,
    summary="Delete every matching todo",
    operation_id="deleteTodos",
)
async def delete_todos(
    request: Request, user_id: UserId, query: Annotated[TodoBulkQuery, Query()]
) -> JSONResponse:
    """Deletes every todo matching the filters, such as `?is_completed=true` to clear the
    completed ones. At least one filter is required: a bare DELETE is refused."""
    deleted = await service.delete_todos(database(request), user_id, query.filters())
    nudge_purger(request)
    return JSONResponse({"deleted": deleted})


@router.post(
    "/bulk",
    status_code=status.HTTP_201_CREATED,
    response_model=TodoItems,
    responses=_KEYED_RESPONSES,
    summary="Create several todos",
    operation_id="createTodos",
)
async def create_todos(
    request: Request,
    user_id: UserId,
    data: TodoBulkCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Creates 1 to 100 todos at once, all or none; `items` are in the order sent. With an
    `Idempotency-Key`, a retry gets this response again instead of more todos."""

    async def create(db: Executor) -> JSONResponse:
        items = await service.create_todos(db, user_id, data.todos)
        return items_response(items, status_code=status.HTTP_201_CREATED)

    if idempotency_key is None:
        return await create(database(request))
    return await once(request, idempotency_key, user_id, data, create, one_item=False)


@router.get(
    "/stats",
    response_model=TodoStats,
    responses=ERROR_RESPONSES,
    summary="Count todos",
    operation_id="getTodoStats",
)
async def get_todo_stats(
    request: Request, user_id: UserId, query: Annotated[TodoStatsQuery, Query()]
) -> JSONResponse:
    """Counts over the todos the same filters would list: totals, overdue, due today in
    `tz`, per priority, and the most used tags."""
    counts = await stats.todo_stats(
        database(request), user_id, filters=query.filters(), zone=query.tz
    )
    return JSONResponse(dataclasses.asdict(counts))


@router.get(
    "/{todo_id}",
    response_model=TodoPublic,
    responses={**ERROR_RESPONSES, **NOT_MODIFIED_RESPONSES},
    summary="Get a todo",
    operation_id="getTodo",
)
async def get_todo(
    request: Request, user_id: UserId, todo_id: TodoId, if_none_match: IfNoneMatch = None
) -> Response:
    """One todo of `user_id`'s, with its `ETag`; 304 and no body while `If-None-Match`
    names it."""
    todo = await service.get_todo(database(request), user_id, todo_id)
    return not_modified(todo_response(todo), if_none_match)


@router.put(
    "/{todo_id}",
    response_model=TodoPublic,
    responses=_CONDITIONAL_BODY_RESPONSES,
    summary="Replace a todo",
    operation_id="replaceTodo",
)
async def replace_todo(
    request: Request,
    user_id: UserId,
    todo_id: TodoId,
    data: TodoReplace,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Sets `title`, `description` (null allowed) and `is_completed`, and each planning
    field sent (`priority`, `due_at`, `tags`); one left out keeps its value."""
    precondition = write_precondition(request, if_match, todo_etag)
    todo = await service.replace_todo(
        database(request), user_id, todo_id, data, precondition=precondition
    )
    return todo_response(todo)


@router.patch(
    "/{todo_id}",
    response_model=TodoPublic,
    responses=_CONDITIONAL_BODY_RESPONSES,
    summary="Update some fields",
    operation_id="patchTodo",
)
async def patch_todo(
    request: Request,
    user_id: UserId,
    todo_id: TodoId,
    changes: TodoPatch,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Changes only the fields sent; `description: null` and `due_at: null` clear them,
    and `tags` replaces the set."""
    precondition = write_precondition(request, if_match, todo_etag)
    todo = await service.patch_todo(
        database(request), user_id, todo_id, changes, precondition=precondition
    )
    return todo_response(todo)


@router.patch(
    "/{todo_id}/complete",
    response_model=TodoPublic,
    responses=_CONDITIONAL_RESPONSES,
    summary="Toggle completion",
    operation_id="toggleTodo",
)
async def toggle_completed(
    request: Request, user_id: UserId, todo_id: TodoId, if_match: IfMatch = None
) -> JSONResponse:
    """Flips `is_completed`: open becomes completed and completed becomes open. Not
    idempotent: a client that retries should `PATCH {"is_completed": ...}` instead, or send
    `If-Match`, so a retry of a toggle that was applied does not flip it back."""
    precondition = write_precondition(request, if_match, todo_etag)
    todo = await service.toggle_completed(
        database(request), user_id, todo_id, precondition=precondition
    )
    return todo_response(todo)


@router.delete(
    "/{todo_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_CONDITIONAL_RESPONSES,
    summary="Delete a todo",
    operation_id="deleteTodo",
)
async def delete_todo(
    request: Request, user_id: UserId, todo_id: TodoId, if_match: IfMatch = None
) -> None:
    """Deletes the todo for good (the change feed tells other devices)."""
    precondition = write_precondition(request, if_match, todo_etag)
    await service.delete_todo(database(request), user_id, todo_id, precondition=precondition)
    nudge_purger(request)


@router.post(
    "/{todo_id}/move",
    response_model=TodoPublic,
    responses={**_CONDITIONAL_BODY_RESPONSES, **IDEMPOTENCY_RESPONSES},
    summary="Move a todo in the manual order",
    operation_id="moveTodo",
)
async def move_todo(
    request: Request,
    user_id: UserId,
    todo_id: TodoId,
    place: TodoMove,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Places the todo just `after` one todo and/or just `before` another, in `list_id`
    (left out: the list it is in; null: no list); with neither, at the end. The listing's
    `sort=position` then shows it there."""
    db = database(request)
    precondition = write_precondition(request, if_match, todo_etag)
    fields = place.model_dump()
    list_id = (
        fields["list_id"] if "list_id" in fields else await moves.current_list(db, user_id, todo_id)
    )
    move = moves.Move(list_id=list_id, before=place.before, after=place.after)
    if idempotency_key is None:
        return todo_response(
            await moves.move_todo(db, user_id, todo_id, move, precondition=precondition)
        )

    async def move_it(transaction: Transaction) -> JSONResponse:
        moved = await moves.move_within(
            transaction, user_id, todo_id, move, precondition=precondition
        )
        return todo_response(moved)

    return await once(request, idempotency_key, user_id, place, move_it, one_item=True)
