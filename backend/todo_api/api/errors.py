"""The one place that turns any failure into the API's JSON error.

Every error body has the same shape, `{"detail": ..., "error_code": ...}`, plus
`field_errors` for validation, so clients branch on `error_code` and never on prose.
Services raise the domain exceptions of `todo_api.errors` and know nothing about HTTP;
the handlers in `EXCEPTION_HANDLERS` are the only code that picks a status for them, and
`ERROR_RESPONSES` documents them for the OpenAPI document.
"""

import difflib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, get_args

import asyncpg
import orjson
from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from todo_api.api.headers import SECURITY_HEADERS
from todo_api.api.limits import MAX_BODY_BYTES
from todo_api.api.todo_queries import TodoFilterQuery
from todo_api.db.availability import is_database_unavailable
from todo_api.errors import DatabaseUnavailable, InvalidInput, TodoNotFound
from todo_api.models import (
    BULK_MAX_ITEMS,
    EXAMPLE_TITLE,
    EXAMPLE_TODO_ID,
    NOT_AN_INSTANT,
    READ_ONLY_FIELDS,
    TodoBase,
    TodoBulkChange,
    TodoBulkCreate,
)
from todo_api.services.cursor import NOT_A_CURSOR

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
TODO_NOT_FOUND = "Todo not found."
BLANK_TITLE = "title must not be blank"
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


def service_unavailable() -> ErrorResponse:
    """The 503 for a database that is down, asleep or too slow."""
    return ErrorResponse(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
        "The database is unavailable; retry shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
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


def method_not_allowed(allowed: str) -> ErrorResponse:
    """The 405 for a path served with other methods, listed in `Allow`."""
    return ErrorResponse(
        HTTPStatus.METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "Method not allowed.",
        headers={"Allow": allowed},
    )


def unauthorized() -> ErrorResponse:
    """The 401 for an /api request without the configured API key (see `api/security.py`)."""
    return ErrorResponse(
        HTTPStatus.UNAUTHORIZED,
        "UNAUTHORIZED",
        "Send the API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _field_name(error: Mapping[str, Any]) -> str:
    """`("body", "todos", 3, "title")` becomes `body.todos.3.title`; the offset of a JSON
    syntax error (`("body", 17)`) is dropped."""
    location: Sequence[str | int] = error["loc"]
    if error["type"] == "json_invalid":
        location = [part for part in location if not isinstance(part, int)]
    return ".".join(str(part) for part in location) or "request"


# --- What a 422 says --------------------------------------------------------------------
# Pydantic's checks stay as they are: their constraints (patterns, lengths, bounds) are what
# the OpenAPI document shows and schemathesis generates from. Only the wording is ours: each
# error becomes one sentence, by its type and, where one input needs its own, by its place.
# The sentences name the input as the client sent it (`title`, `limit`), never a pattern.

_NUL = "\x00"
_WRITABLE = tuple(TodoBase.model_fields)
_EXAMPLE_BODY = f'{{"title": "{EXAMPLE_TITLE}"}}'
_SHORTEST_HINT = 3  # an unknown key this short (`d`, `is`) suggests no field
_A_CURSOR = NOT_A_CURSOR

# By pydantic's error type, for any input: templates, filled with `name` and the error's
# context (`max_length`, `ge`, ...).
_BY_TYPE: dict[str, str] = {
    "missing": "{name} is required",
    "string_type": "{name} must be a string",
    "string_too_short": "{name} must not be empty",
    "string_too_long": "{name} must be at most {max_length} characters",
    "bool_type": "{name} must be a JSON boolean: true or false, without quotes",
    "bool_parsing": "{name} must be true or false",
    "int_type": "{name} must be a whole number",
    "int_parsing": "{name} must be a whole number",
    "int_from_float": "{name} must be a whole number",
    "greater_than_equal": "{name} must be at least {ge}",
    "less_than_equal": "{name} must be at most {le}",
    "uuid_type": f"{{name}} must be a UUID, such as {EXAMPLE_TODO_ID}",
    "uuid_parsing": f"{{name}} must be a UUID, such as {EXAMPLE_TODO_ID}",
    "literal_error": "{name} must be {expected}",
    "enum": "{name} must be one of {expected}",
    # Every other pattern has a sentence of its own below (or is about NUL characters).
    "string_pattern_mismatch": "{name} must not be blank",
    "list_type": "{name} must be an array",
    "too_long": "{name} may hold at most {max_length} items",
    "too_short": "{name} must hold at least {min_length} item",
    "timezone_aware": f"{{name}} {NOT_AN_INSTANT}",
    "datetime_type": f"{{name}} {NOT_AN_INSTANT}",
    "datetime_parsing": f"{{name}} {NOT_AN_INSTANT}",
    "datetime_from_date_parsing": f"{{name}} {NOT_AN_INSTANT}",
}
# Where one input needs a sentence of its own, by its place and the error type: as is.
_BY_FIELD: dict[tuple[str, str], str] = {
    ("body.title", "string_too_short"): BLANK_TITLE,
    ("body.title", "string_pattern_mismatch"): BLANK_TITLE,
    ("body.description", "missing"): "description is required (null clears it)",
    ("body.description", "string_type"): "description must be a string or null",
    ("path.user_id", "string_pattern_mismatch"): (
        "user_id may contain only letters, digits and . _ - ~ : @ | +"
    ),
    ("query.cursor", "string_pattern_mismatch"): _A_CURSOR,
    ("query.cursor", "string_too_long"): _A_CURSOR,
    ("body.todos", "too_short"): f"todos must hold 1 to {BULK_MAX_ITEMS} todos",
    ("body.todos", "too_long"): f"todos must hold 1 to {BULK_MAX_ITEMS} todos",
}


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _unknown_field(name: str, fields: Sequence[str]) -> str:
    """A key that is not a field, with the field it most likely meant (`completed`)."""
    # A misspelling (`tilte`), or a shortening such as `desc`.
    close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6) or [
        field for field in fields if len(name) >= _SHORTEST_HINT and name in field
    ]
    hint = f"; did you mean {close[0]}?" if close else "."
    the_fields = (
        f"The fields are {_listed(fields)}." if len(fields) > 1 else f"The field is {fields[0]}."
    )
    return f"{name} is not a field{hint} {the_fields}"


@dataclass(frozen=True, slots=True)
class BodyShape:
    """What a 422 about a body says it should look like: its fields, and an example."""

    fields: Sequence[str] = _WRITABLE
    example: str = _EXAMPLE_BODY


# The bodies whose example is not a todo's.
_EXAMPLES: dict[type[BaseModel], str] = {
    TodoBulkCreate: f'{{"todos": [{_EXAMPLE_BODY}]}}',
    TodoBulkChange: '{"is_completed": true}',
}


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or the item of a list or an optional."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def body_shape(model: type[BaseModel] | None, location: Sequence[str | int]) -> BodyShape:
    """The shape of the object at `location` (`("body", "todos", 3, "colour")`: a todo)
    in a body of `model`."""
    for part in location[1:-1]:
        if model is None:
            break
        if isinstance(part, str):
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return BodyShape()
    fields = [name for name in model.model_fields if name not in READ_ONLY_FIELDS]
    return BodyShape(fields=fields, example=_EXAMPLES.get(model, _EXAMPLE_BODY))


_FILTERS = tuple(TodoFilterQuery.model_fields)
_THE_FILTERS = f"The filters are {', '.join(_FILTERS[:-1])} and {_FILTERS[-1]}."


def _unknown_parameter(name: str) -> str:
    """A query parameter a bulk change does not know: a misspelt filter, most likely."""
    close = difflib.get_close_matches(name, _FILTERS, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else "."
    return f"{name} is not a filter{hint} {_THE_FILTERS}"


def _by_input(field: str, name: str, kind: str, value: object) -> str | None:
    """The sentences that depend on what was sent, not only on which check failed."""
    if value is None and kind.endswith("_type") and field != "body":
        return f"{name} must not be null"
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        if _NUL in value:
            return f"{name} must not contain the NUL character (U+0000)"
        if field == "path.user_id" and not value.strip("."):
            return "user_id must not be only dots"
    return None


def _input_name(field: str) -> str:
    """How a sentence names the input at `field`: `title`, or `tags[2]` for an item."""
    parts = field.split(".")
    if len(parts) > 1 and parts[-1].isdigit():
        return f"{parts[-2]}[{parts[-1]}]"
    return parts[-1]


def _structural(field: str, name: str, error: Mapping[str, Any], shape: BodyShape) -> str | None:
    """The sentences about the request's structure, and those our own validators wrote."""
    kind: str = error["type"]
    context: dict[str, Any] = error.get("ctx") or {}
    if kind == "value_error":  # our own validators' sentences, which omit the name
        own = str(context.get("error", error["msg"]))
        if field.startswith("query.") and " " in str(error.get("input", "")):
            own += " (in a query string, send the offset's + as %2B)"
        return own if field == "body" else f"{name} {own}"
    if kind == "json_invalid":
        reason = context.get("error")
        return f"Body is not valid JSON: {reason}" if reason else "Body is not valid JSON"
    if kind == "extra_forbidden":
        if field.startswith("query."):
            return _unknown_parameter(name)
        return _unknown_field(name, shape.fields)
    if field != "body":
        return None
    return {
        "missing": f"A body is required: a JSON object such as {shape.example}.",
        "model_attributes_type": f"The body must be a JSON object, such as {shape.example}.",
    }.get(kind)


def validation_message(field: str, error: Mapping[str, Any], shape: BodyShape | None = None) -> str:
    """The sentence for one of pydantic's errors about the input at `field` (`body.title`),
    in a body of `shape` (a todo's, unless told)."""
    kind: str = error["type"]
    name = _input_name(field)
    message = (
        _structural(field, name, error, shape or BodyShape())
        or _by_input(field, name, kind, error.get("input"))
        or _BY_FIELD.get((field, kind))
    )
    if message is not None:
        return message
    template = _BY_TYPE.get(kind)
    if template is None:  # a check with no sentence yet: pydantic's own words, named
        return f"{name}: {error['msg']}"
    context: dict[str, Any] = error.get("ctx") or {}
    if kind in ("literal_error", "enum"):  # "'asc' or 'desc'"
        context = {**context, "expected": str(context.get("expected", "")).replace("'", "")}
    return template.format(name=name, **context)


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
BODY_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    413: _documented(ErrorBody, f"The body is larger than {_MAX_BODY_TEXT}.", payload_too_large()),
    415: _documented(
        ErrorBody, "The body is not JSON by its Content-Type.", unsupported_media_type()
    ),
}


def _body_model(request: Request) -> type[BaseModel] | None:
    body = getattr(request.scope.get("route"), "body_field", None)
    return _model_in(getattr(getattr(body, "field_info", None), "annotation", None))


def _field_error(error: Mapping[str, Any], model: type[BaseModel] | None) -> dict[str, str]:
    field = _field_name(error)
    shape = body_shape(model, error["loc"]) if error["loc"][:1] == ("body",) else None
    return {"field": field, "message": validation_message(field, error, shape)}


async def _on_request_validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    # `PUT .../todos/stats` reaches `PUT .../todos/{todo_id}` with "stats" as the id, but
    # the path is the stats resource, which PUT is the wrong method for.
    if any(error["loc"][:1] == ("path",) for error in errors) and request.scope.get(
        "route"
    ) not in _most_literal_routes(request):
        return method_not_allowed(_allowed_methods(request))
    model = _body_model(request)
    return validation_error([_field_error(error, model) for error in errors])


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


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


async def _on_invalid_input(_: Request, exc: InvalidInput) -> Response:
    return validation_error([{"field": exc.field, "message": exc.message}])


async def _on_database_unavailable(_: Request, exc: DatabaseUnavailable) -> Response:
    logger.warning("Database not ready: %s", exc)
    return service_unavailable()


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """Driver and pool failures: an outage is a 503, anything else a bug (500)."""
    if is_database_unavailable(exc):
        logger.warning("Database unavailable: %s", type(exc).__name__)
        return service_unavailable()
    return await _on_unexpected_error(request, exc)


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    """The last resort: log everything, tell the client nothing internal."""
    logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # This handler runs outside every middleware, so it adds the request id and the
    # security headers itself.
    request_id = request.scope.get("state", {}).get("request_id")
    headers = {**SECURITY_HEADERS, "X-Request-ID": request_id} if request_id else SECURITY_HEADERS
    return ErrorResponse(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "An unexpected error occurred.",
        headers=headers,
    )


ExceptionHandler = Callable[[Request, Any], Coroutine[Any, Any, Response]]

# Passed to FastAPI(exception_handlers=...) by the app factory. Outages may surface as a
# driver error, a socket error or a timeout, so all three go through the classifier.
EXCEPTION_HANDLERS: dict[int | type[Exception], ExceptionHandler] = {
    RequestValidationError: _on_request_validation_error,
    StarletteHTTPException: _on_http_exception,
    TodoNotFound: _on_todo_not_found,
    InvalidInput: _on_invalid_input,
    DatabaseUnavailable: _on_database_unavailable,
    asyncpg.PostgresError: _on_database_error,
    asyncpg.InterfaceError: _on_database_error,
    OSError: _on_database_error,
    TimeoutError: _on_database_error,
    Exception: _on_unexpected_error,
}
