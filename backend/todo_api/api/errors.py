"""The one place that turns any failure into the API's error: RFC 9457 problem details.

Every error body is `application/problem+json` with the same members: `type` (a URN, one
per `error_code`), `title` (the same for every occurrence of that code), `status`,
`detail` (what went wrong this time), and the extension members `error_code`, plus
`field_errors` on a 422, so clients branch on `error_code` (or `type`) and never on
prose (specs/decisions/0005-error-format.md, 0016-problem-details.md). Services raise the
domain exceptions of `todo_api.errors` and know nothing about HTTP; the handlers in
`EXCEPTION_HANDLERS` are the only code that picks a status for them, and
`ERROR_RESPONSES` and its siblings document them for the OpenAPI document.
"""

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from http import HTTPStatus
from typing import Annotated, Any

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
    IDEMPOTENCY_KEY_FIELD,
    IDEMPOTENCY_KEY_REUSED,
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
    IdempotencyKeyReused,
    InvalidInput,
    ListNameTaken,
    ListNotEmpty,
    ListNotFound,
    PreconditionFailed,
    PreconditionRequired,
    RequestInProgress,
    ResyncRequired,
    TodoNotFound,
)
from todo_api.metrics import DatabaseErrorKind

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
TODO_NOT_FOUND = "Todo not found."
LIST_NOT_FOUND = "List not found."
_MAX_BODY_TEXT = f"{MAX_BODY_BYTES // 1024} KiB"


# --- Problem types -----------------------------------------------------------------------

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A URN per error_code: absolute, so it means the same whatever the host, root path or
# request that got it, and tied to no domain name (specs/decisions/0016-problem-details.md).
PROBLEM_TYPE_PREFIX = "urn:todo-api:problem:"

# The `title` of each error_code: a short summary that is the same for every occurrence
# (the `detail` says what happened this time). specs/api.md lists them with their `type`.
PROBLEM_TITLES: dict[str, str] = {
    "BAD_REQUEST": "Bad Request",
    "UNAUTHORIZED": "Unauthorized",
    "FORBIDDEN": "Forbidden",
    "NOT_FOUND": "Not Found",
    "METHOD_NOT_ALLOWED": "Method Not Allowed",
    "CONFLICT": "Conflict",
    "LIST_NOT_EMPTY": "List Not Empty",
    "RESYNC_REQUIRED": "Resync Required",
    "PRECONDITION_FAILED": "Precondition Failed",
    "PAYLOAD_TOO_LARGE": "Payload Too Large",
    "UNSUPPORTED_MEDIA_TYPE": "Unsupported Media Type",
    "VALIDATION_ERROR": "Validation Error",
    "IDEMPOTENCY_KEY_REUSED": "Idempotency Key Reused",
    "PRECONDITION_REQUIRED": "Precondition Required",
    "INTERNAL_ERROR": "Internal Error",
    "SERVICE_UNAVAILABLE": "Service Unavailable",
    "DATABASE_NOT_MIGRATED": "Database Not Migrated",
    "DATABASE_READ_ONLY": "Database Read-Only",
}


def problem_type(error_code: str) -> str:
    """The `type` of an error_code: `NOT_FOUND` is `urn:todo-api:problem:not-found`."""
    return PROBLEM_TYPE_PREFIX + error_code.lower().replace("_", "-")


def problem_title(error_code: str) -> str:
    """The `title` of an error_code; one not in the table (another status the framework
    raises, named after it: `NOT_ACCEPTABLE`) is titled after its words."""
    title = PROBLEM_TITLES.get(error_code)
    if title is None:
        title = error_code.replace("_", " ").title().replace("Http ", "HTTP ")
    return title


class FieldError(BaseModel):
    """One invalid input: where it was (`body.title`, `query.limit`, `path.user_id`) and why."""

    field: str = Field(examples=["body.title"])
    message: str = Field(examples=[BLANK_TITLE])


# The members of a problem, as the OpenAPI document describes them.
ProblemType = Annotated[
    str,
    Field(
        description=(
            "The problem type: a URN, one per `error_code`, that never changes "
            "(`urn:todo-api:problem:` and the code in kebab case). Not dereferenceable: "
            "specs/api.md documents each one."
        ),
        json_schema_extra={"format": "uri"},
    ),
]
ProblemTitle = Annotated[
    str, Field(description="A short summary of the problem type, the same for every occurrence.")
]
ProblemStatus = Annotated[int, Field(description="The HTTP status code of the response.")]
ProblemDetail = Annotated[
    str, Field(description="What went wrong this time, for a person to read; may change.")
]
ErrorCode = Annotated[
    str, Field(description="The stable, upper-case name of the problem, to branch on.")
]


class ErrorBody(BaseModel):
    """Every error response: problem details (RFC 9457), served as
    `application/problem+json`, with `error_code` as an extension member."""

    type: ProblemType = Field(examples=[problem_type("NOT_FOUND")])
    title: ProblemTitle = Field(examples=[PROBLEM_TITLES["NOT_FOUND"]])
    status: ProblemStatus = Field(examples=[404])
    detail: ProblemDetail = Field(examples=[TODO_NOT_FOUND])
    error_code: ErrorCode = Field(examples=["NOT_FOUND"])


class ValidationErrorBody(ErrorBody):
    """A 422: the request was understood but some input is invalid."""

    type: ProblemType = Field(examples=[problem_type("VALIDATION_ERROR")])
    title: ProblemTitle = Field(examples=[PROBLEM_TITLES["VALIDATION_ERROR"]])
    status: ProblemStatus = Field(examples=[422])
    detail: ProblemDetail = Field(examples=["The request is invalid; see field_errors."])
    error_code: ErrorCode = Field(examples=["VALIDATION_ERROR"])
    field_errors: list[FieldError] = Field(
        description="Each invalid input: where it was, and the rule it breaks."
    )


class ErrorResponse(Response):
    """An error in the API's shape: problem details, `application/problem+json`."""

    media_type = PROBLEM_MEDIA_TYPE

    def __init__(
        self,
        status_code: int,
        error_code: str,
        detail: str,
        *,
        field_errors: Sequence[dict[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "type": problem_type(error_code),
            "title": problem_title(error_code),
            "status": status_code,
            "detail": detail,
            "error_code": error_code,
        }
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


CONFLICT = "The request conflicts with what is stored."
IN_PROGRESS = (
    "A request with this Idempotency-Key is still being processed; retry shortly to get "
    "its response."
)
IN_PROGRESS_RETRY_AFTER_SECONDS = 1


def conflict(exc: Conflict) -> ErrorResponse:
    """A 409: the request is fine, but what is stored stands in its way (the detail says
    what, and how to proceed). A repeat of a request still in progress is told when to
    try again."""
    if isinstance(exc, RequestInProgress):
        return ErrorResponse(
            HTTPStatus.CONFLICT,
            exc.error_code,
            str(exc) or IN_PROGRESS,
            headers={"Retry-After": str(IN_PROGRESS_RETRY_AFTER_SECONDS)},
        )
    return ErrorResponse(HTTPStatus.CONFLICT, exc.error_code, str(exc) or CONFLICT)


PRECONDITION_FAILED = (
    "The item has changed since the version named in If-Match; fetch it again, and "
    "retry with its new ETag if the change still applies."
)
PRECONDITION_REQUIRED = (
    "This write must be conditional: send If-Match with the ETag of a GET of the item."
)
RESYNC_REQUIRED = (
    "The sync token is older than the deletions the server keeps; sync again without since."
)


def precondition_failed(current_etag: str) -> ErrorResponse:
    """The 412 for an `If-Match` that names an old version; `ETag` is the current one."""
    return ErrorResponse(
        HTTPStatus.PRECONDITION_FAILED,
        "PRECONDITION_FAILED",
        PRECONDITION_FAILED,
        headers={"ETag": current_etag},
    )


def precondition_required() -> ErrorResponse:
    """The 428 for an unconditional write where `If-Match` is required."""
    return ErrorResponse(
        HTTPStatus.PRECONDITION_REQUIRED, "PRECONDITION_REQUIRED", PRECONDITION_REQUIRED
    )


def idempotency_key_reused() -> ErrorResponse:
    """The 422 for an Idempotency-Key already used with another body. A 422 as every other
    one, with `field_errors` naming the header, so clients that read them on any 422 keep
    working."""
    return ErrorResponse(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "IDEMPOTENCY_KEY_REUSED",
        "The Idempotency-Key was already used for a request with a different body; use a "
        "new key for a new request.",
        field_errors=[{"field": IDEMPOTENCY_KEY_FIELD, "message": IDEMPOTENCY_KEY_REUSED}],
    )


def resync_required() -> ErrorResponse:
    """The 410 for a change-feed token older than the deletions kept."""
    return ErrorResponse(HTTPStatus.GONE, "RESYNC_REQUIRED", RESYNC_REQUIRED)


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


def _body(response: ErrorResponse) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(bytes(response.body))
    return body


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def _documented(
    model: type[ErrorBody],
    description: str,
    *examples: ErrorResponse,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An error response as the OpenAPI document shows it: problem details (the schema,
    which FastAPI files under `application/json`, is moved to `application/problem+json` by
    `api/openapi_extras.py`), its examples real responses, one per error_code."""
    content: dict[str, Any]
    if len(examples) == 1:
        content = {"example": _body(examples[0])}
    else:
        content = {
            "examples": {
                body["error_code"]: {"summary": body["title"], "value": body}
                for body in map(_body, examples)
            }
        }
    documented: dict[str, Any] = {
        "model": model,
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: content},
    }
    if headers:
        documented["headers"] = {name: _header(text) for name, text in headers.items()}
    return documented


_RETRY_AFTER = {"Retry-After": "Seconds to wait before retrying."}
_VALIDATION_EXAMPLE = validation_error([{"field": "body.title", "message": BLANK_TITLE}])

# Documented on each route so the OpenAPI document lists every error a client can get.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _documented(
        ErrorBody, "No such todo for this user, or no such route.", not_found(TODO_NOT_FOUND)
    ),
    422: _documented(ValidationErrorBody, "Invalid path, query or body.", _VALIDATION_EXAMPLE),
    503: _documented(
        ErrorBody,
        "The database is unavailable; see Retry-After.",
        service_unavailable(),
        headers=_RETRY_AFTER,
    ),
}
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _documented(
        ErrorBody,
        "What is stored stands in the way: `CONFLICT` (a list of that name exists) or "
        "`LIST_NOT_EMPTY`.",
        conflict(ListNameTaken("You already have a list of this name.")),
        conflict(ListNotEmpty("The list holds todos; say what becomes of them.")),
    ),
}
BODY_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    413: _documented(ErrorBody, f"The body is larger than {_MAX_BODY_TEXT}.", payload_too_large()),
    415: _documented(
        ErrorBody, "The body is not JSON by its Content-Type.", unsupported_media_type()
    ),
}
# For a write on one item that takes `If-Match`.
PRECONDITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: _documented(
        ErrorBody,
        "`PRECONDITION_FAILED`: the item changed since the version `If-Match` names; "
        "`ETag` is the current one.",
        precondition_failed('"3"'),
        headers={"ETag": "The item's current version."},
    ),
    428: _documented(
        ErrorBody,
        "`PRECONDITION_REQUIRED`: the server requires `If-Match` on this write.",
        precondition_required(),
    ),
}
# For a write that takes an `Idempotency-Key`; the 422 replaces the validation 422, which
# it includes.
IDEMPOTENCY_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: _documented(
        ErrorBody,
        "`CONFLICT`: a request with the same `Idempotency-Key` is still being processed "
        "(retry after `Retry-After`), or what is stored stands in the way.",
        conflict(RequestInProgress()),
        headers=_RETRY_AFTER,
    ),
    422: _documented(
        ValidationErrorBody,
        "`VALIDATION_ERROR`: invalid path, query, headers or body; or "
        "`IDEMPOTENCY_KEY_REUSED`: the `Idempotency-Key` was used for a request with "
        "another body.",
        _VALIDATION_EXAMPLE,
        idempotency_key_reused(),
    ),
}
# For the change feed's `since`.
RESYNC_RESPONSES: dict[int | str, dict[str, Any]] = {
    410: _documented(
        ErrorBody,
        "`RESYNC_REQUIRED`: the sync token is older than the deletions kept; sync again "
        "without `since`.",
        resync_required(),
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


async def _on_precondition_failed(_: Request, exc: PreconditionFailed) -> Response:
    return precondition_failed(exc.current_etag)


async def _on_precondition_required(_: Request, __: PreconditionRequired) -> Response:
    return precondition_required()


async def _on_idempotency_key_reused(_: Request, __: IdempotencyKeyReused) -> Response:
    return idempotency_key_reused()


async def _on_resync_required(_: Request, __: ResyncRequired) -> Response:
    return resync_required()


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
    PreconditionFailed: _on_precondition_failed,
    PreconditionRequired: _on_precondition_required,
    IdempotencyKeyReused: _on_idempotency_key_reused,
    ResyncRequired: _on_resync_required,
    InvalidInput: _on_invalid_input,
    DatabaseUnavailable: _on_database_unavailable,
    asyncpg.PostgresError: _on_database_error,
    asyncpg.InterfaceError: _on_database_error,
    OSError: _on_database_error,
    TimeoutError: _on_database_error,
    Exception: _on_unexpected_error,
}
