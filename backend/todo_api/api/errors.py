"""The one place that turns any failure into the API's JSON error.

Every error body has the same shape, `{"detail": ..., "error_code": ...}`, plus
`field_errors` for validation, so clients branch on `error_code` and never on prose.
Services raise the domain exceptions of `todo_api.errors` and know nothing about HTTP;
the handlers in `EXCEPTION_HANDLERS` are the only code that picks a status for them, and
`ERROR_RESPONSES` documents them for the OpenAPI document.
"""

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette._utils import get_route_path
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount, Route
from starlette.types import Scope

from todo_api.api.headers import SECURITY_HEADERS
from todo_api.api.limits import MAX_BODY_BYTES
from todo_api.api.routing import route_template
from todo_api.api.validation_messages import (
    BLANK_TITLE,
    body_model,
    field_error,
    query_parameters,
)
from todo_api.db.availability import is_database_timeout, is_database_unavailable
from todo_api.errors import (
    Conflict,
    DatabaseNotMigrated,
    DatabaseReadOnly,
    DatabaseUnavailable,
    InvalidInput,
    ListNameTaken,
    ListNotFound,
    TodoNotFound,
)
from todo_api.metrics import DatabaseErrorKind

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
TODO_NOT_FOUND = "Todo not found."
LIST_NOT_FOUND = "List not found."
_MAX_BODY_TEXT = f"{MAX_BODY_BYTES // 1024} KiB"


class FieldError(BaseModel):
    """One invalid input: where it was (`body.title`, `query.limit`, `path.user_id`) and why."""

    field: str = Field(examples=["body.title"])
    message: str = Field(examples=[BLANK_TITLE])


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    detail: str = Field(examples=[TODO_NOT_FOUND])
    error_code: str = Field(examples=["NOT_FOUND"])


class ValidationErrorBody(ErrorBody):
    """A 422: the request was understood but some input is invalid."""

    detail: str = Field(examples=["The request is invalid; see field_errors."])
    error_code: str = Field(examples=["VALIDATION_ERROR"])
    field_errors: list[FieldError]


class ErrorResponse(Response):
    """A JSON error in the API's shape."""

    media_type = "application/json"

    def __init__(
        self,
        status_code: int,
        error_code: str,
        detail: str,
        *,
        field_errors: Sequence[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body: dict[str, Any] = {"detail": detail, "error_code": error_code}
        if field_errors is not None:
            body["field_errors"] = list(field_errors)
        super().__init__(orjson.dumps(body), status_code=status_code, headers=headers)


def validation_error(field_errors: Sequence[dict[str, str]]) -> ErrorResponse:
    """The 422 every kind of bad input gets, naming each offending field."""
    return ErrorResponse(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "VALIDATION_ERROR",
        "The request is invalid; see field_errors.",
        field_errors=field_errors,
    )


def not_found(detail: str = "Resource not found.") -> ErrorResponse:
    """The 404 for a path no route serves, and for what this user cannot see."""
    return ErrorResponse(HTTPStatus.NOT_FOUND, "NOT_FOUND", detail)


def conflict(exc: Conflict) -> ErrorResponse:
    """A 409: the request is fine, but what is stored stands in its way (the detail says
    what, and how to proceed)."""
    return ErrorResponse(HTTPStatus.CONFLICT, exc.error_code, str(exc))


def service_unavailable(
    error_code: str = "SERVICE_UNAVAILABLE",
    detail: str = "The database is unavailable; retry shortly.",
) -> ErrorResponse:
    """The 503 for a database that is down, asleep, too slow, or not ready for this code."""
    return ErrorResponse(
        HTTPStatus.SERVICE_UNAVAILABLE,
        error_code,
        detail,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


NOT_MIGRATED = (
    "The database has not been migrated to the schema this version needs; the operator "
    "must run todo-api migrate."
)
READ_ONLY = (
    "The database is read-only right now (a standby, or a failover under way); retry shortly."
)


def unsupported_media_type() -> ErrorResponse:
    """The 415 for a body that is not declared as JSON."""
    return ErrorResponse(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "Send the body as JSON, with Content-Type: application/json.",
    )


def payload_too_large() -> ErrorResponse:
    """The 413 for a body over the limit."""
    return ErrorResponse(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        f"The body is larger than {_MAX_BODY_TEXT}.",
    )


def bad_content_length() -> ErrorResponse:
    """The 400 for a Content-Length header that is not a number of bytes."""
    return ErrorResponse(
        HTTPStatus.BAD_REQUEST,
        "BAD_REQUEST",
        "Content-Length must be the body's size in bytes, in ASCII digits.",
    )


def method_not_allowed(allowed: str) -> ErrorResponse:
    """The 405 for a path served with other methods, listed in `Allow`."""
    return ErrorResponse(
        HTTPStatus.METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed.",
        headers={"Allow": allowed},
    )


def unauthorized(
    detail: str = "Send the API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    www_authenticate: str = "Bearer",
) -> ErrorResponse:
    """The 401 for an /api request without the configured API key (see `api/security.py`),
    or without a valid JWT (`api/jwt_auth.py`, which passes its own detail and challenge)."""
    return ErrorResponse(
        HTTPStatus.UNAUTHORIZED,
        "UNAUTHORIZED",
        detail,
        headers={"WWW-Authenticate": www_authenticate},
    )


def forbidden(detail: str) -> ErrorResponse:
    """The 403 for a valid JWT of another user than the path's (`api/jwt_auth.py`)."""
    return ErrorResponse(HTTPStatus.FORBIDDEN, "FORBIDDEN", detail)


def _documented(model: type[ErrorBody], description: str, example: ErrorResponse) -> dict[str, Any]:
    """An error response as the OpenAPI document shows it: its example is a real response."""
    return {
        "model": model,
        "description": description,
        "content": {"application/json": {"example": orjson.loads(bytes(example.body))}},
    }


# Documented on each route so the OpenAPI document lists every error a client can get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _documented(
        ErrorBody, "No such todo for this user, or no such route.", not_found(TODO_NOT_FOUND)
    ),
    422: _documented(
        ValidationErrorBody,
        "Invalid path, query or body.",
        validation_error([{"field": "body.title", "message": BLANK_TITLE}]),
    ),
    503: _documented(
        ErrorBody, "The database is unavailable; see Retry-After.", service_unavailable()
    ),
}
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _documented(
        ErrorBody,
        "What is stored stands in the way: `CONFLICT` (a list of that name exists) or "
        "`LIST_NOT_EMPTY`.",
        conflict(ListNameTaken("You already have a list of this name.")),
    ),
}
BODY_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    413: _documented(ErrorBody, f"The body is larger than {_MAX_BODY_TEXT}.", payload_too_large()),
    415: _documented(
        ErrorBody, "The body is not JSON by its Content-Type.", unsupported_media_type()
    ),
}


async def _on_request_validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    # `PUT .../todos/stats` reaches `PUT .../todos/{todo_id}` with "stats" as the id, but
    # the path is the stats resource, which PUT is the wrong method for.
    if any(error["loc"][:1] == ("path",) for error in errors) and request.scope.get(
        "route"
    ) not in _most_literal_routes(request):
        return method_not_allowed(_allowed_methods(request))
    model, parameters = body_model(request), query_parameters(request)
    return validation_error([field_error(error, model, parameters) for error in errors])


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _most_literal_routes(request: Request) -> list[Route]:
    """The routes for this path: of those whose pattern matches it, the ones with the fewest
    parameters. `.../todos/stats` is the stats route's path, although the pattern of
    `.../todos/{todo_id}` matches it too."""
    path = request.scope["path"]
    matching = [r for r in request.app.routes if isinstance(r, Route) and r.path_regex.match(path)]
    fewest = min((len(route.param_convertors) for route in matching), default=0)
    return [route for route in matching if len(route.param_convertors) == fewest]


def _allowed_methods(request: Request) -> str:
    """Every method the routes for this path serve. Starlette's own `Allow` names only the
    first matching route's methods (GET for a todo, though PUT, PATCH, DELETE work too)."""
    methods = {method for route in _most_literal_routes(request) for method in route.methods or ()}
    # The app's own path: inside the mount, `root_path` already includes the mount's.
    path = get_route_path({**request.scope, "root_path": request.scope.get("app_root_path", "")})
    if not methods and any(
        isinstance(route, Mount) and path.startswith(route.path + "/")
        for route in request.app.routes
    ):
        methods = {"GET"}  # the app's one mount is the docs' static files
    if "GET" in methods:  # answered as the GET (see PathAndBodyChecksMiddleware)
        methods.add("HEAD")
    return ", ".join(method for method in _METHODS if method in methods)


# No path of the API ends with a slash, and one that does is not redirected (a bare 307
# that curl shows as nothing, and that a client may not follow with its body): it is a
# 404 like any unknown path, which says why when the path without the slash exists.
TRAILING_SLASH_DETAIL = "Resource not found. Remove the trailing slash: no path here ends with one."


def _is_a_route_but_for_the_slash(request: Request) -> bool:
    path: str = request.scope["path"]
    if path == "/" or not path.endswith("/"):
        return False
    scope = {**request.scope, "path": path.rstrip("/")}
    return any(route.matches(scope)[0] != Match.NONE for route in request.app.routes)


async def _on_http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    """Routing and protocol errors raised by Starlette and FastAPI (404, 405, 413, ...)."""
    if exc.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return payload_too_large()
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        return method_not_allowed(_allowed_methods(request))
    if exc.status_code == HTTPStatus.NOT_FOUND:
        if _is_a_route_but_for_the_slash(request):
            return not_found(TRAILING_SLASH_DETAIL)
        return not_found()
    try:
        error_code = HTTPStatus(exc.status_code).name
    except ValueError:  # a status code outside the standard list
        error_code = "HTTP_ERROR"
    return ErrorResponse(exc.status_code, error_code, str(exc.detail), headers=exc.headers)


async def _on_todo_not_found(_: Request, __: TodoNotFound) -> Response:
    return not_found(TODO_NOT_FOUND)


async def _on_list_not_found(_: Request, __: ListNotFound) -> Response:
    return not_found(LIST_NOT_FOUND)


async def _on_conflict(_: Request, exc: Conflict) -> Response:
    return conflict(exc)


async def _on_invalid_input(_: Request, exc: InvalidInput) -> Response:
    return validation_error([{"field": exc.field, "message": exc.message}])


def _count_database_error(request: Request, kind: DatabaseErrorKind) -> None:
    """`todo_api_db_errors_total{kind=...}`, when the app records metrics."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.count_database_error(kind)


async def _on_database_unavailable(request: Request, exc: DatabaseUnavailable) -> Response:
    _count_database_error(request, "unavailable")
    if isinstance(exc, DatabaseNotMigrated):
        logger.error("Database not migrated (%s): run todo-api migrate", exc)
        return service_unavailable("DATABASE_NOT_MIGRATED", NOT_MIGRATED)
    if isinstance(exc, DatabaseReadOnly):
        logger.warning("Database read-only: %s", exc)
        return service_unavailable("DATABASE_READ_ONLY", READ_ONLY)
    logger.warning("Database not ready: %s", exc)
    return service_unavailable()


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """Driver and pool failures: an outage is a 503, anything else a bug (500)."""
    if is_database_unavailable(exc):
        _count_database_error(request, "timeout" if is_database_timeout(exc) else "unavailable")
        logger.warning("Database unavailable: %s", type(exc).__name__)
        return service_unavailable()
    _count_database_error(request, "other")
    return await _on_unexpected_error(request, exc)


def internal_error() -> ErrorResponse:
    """The 500: nothing internal, whatever happened."""
    return ErrorResponse(
        HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "An unexpected error occurred."
    )


def log_unexpected_error(scope: Scope, exc: BaseException) -> None:
    """One record with the traceback, naming the route by its template and the request by
    its id: never the path, whose values (user ids) stay out of the logs."""
    logger.error(
        "Unhandled error on %s %s request_id=%s",
        scope.get("method", "-"),
        route_template(scope),
        scope.get("state", {}).get("request_id", "-"),
        exc_info=exc,
    )


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    """The last resort: log everything, tell the client nothing internal. Exceptions
    that escape a route are answered by `ResponseHeadersAndLogMiddleware` before they get
    here; this catches what fails outside it, and the driver errors that are bugs."""
    log_unexpected_error(request.scope, exc)
    response = internal_error()
    # Outside every middleware, so the request id and the security headers are added here.
    request_id = request.scope.get("state", {}).get("request_id")
    response.headers.update(SECURITY_HEADERS)
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


ExceptionHandler = Callable[[Request, Any], Coroutine[Any, Any, Response]]

# Passed to FastAPI(exception_handlers=...) by the app factory. Outages may surface as a
# driver error, a socket error or a timeout, so all three go through the classifier.
EXCEPTION_HANDLERS: dict[int | type[Exception], ExceptionHandler] = {
    RequestValidationError: _on_request_validation_error,
    StarletteHTTPException: _on_http_exception,
    TodoNotFound: _on_todo_not_found,
    ListNotFound: _on_list_not_found,
    Conflict: _on_conflict,
    InvalidInput: _on_invalid_input,
    DatabaseUnavailable: _on_database_unavailable,
    asyncpg.PostgresError: _on_database_error,
    asyncpg.InterfaceError: _on_database_error,
    OSError: _on_database_error,
    TimeoutError: _on_database_error,
    Exception: _on_unexpected_error,
}
