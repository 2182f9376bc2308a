"""What a 422 says: one sentence per invalid input, naming it as the client sent it.

Pydantic's checks stay as they are: their constraints (patterns, lengths, bounds) are
what the OpenAPI document shows and schemathesis generates from. Only the wording is
ours: each error becomes one sentence, by its type and, where one input needs its own,
by its place. The sentences name the input (`title`, `limit`, `tags[2]`), never a
pattern, and an unknown key is told the fields of the object it was found in.
"""

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel
from starlette.requests import Request

from todo_api.api.conditional import MALFORMED
from todo_api.api.idempotency import BAD_KEY
from todo_api.api.todo_queries import TodoFilterQuery
from todo_api.models.fields import NOT_AN_INSTANT
from todo_api.models.lists import EXAMPLE_LIST_NAME, TodoListCreate, TodoListPatch
from todo_api.models.todos import (
    BULK_MAX_ITEMS,
    EXAMPLE_TITLE,
    EXAMPLE_TODO_ID,
    READ_ONLY_FIELDS,
    TodoBase,
    TodoBulkChange,
    TodoBulkCreate,
    TodoMove,
)
from todo_api.services.cursor import NOT_A_CURSOR

BLANK_TITLE = "title must not be blank"
# The 422 `IDEMPOTENCY_KEY_REUSED` names the header as the 422 of a malformed key does.
IDEMPOTENCY_KEY_FIELD = "header.Idempotency-Key"
IDEMPOTENCY_KEY_REUSED = "Idempotency-Key was already used for a request with a different body"


def field_name(error: Mapping[str, Any]) -> str:
    """`("body", "todos", 3, "title")` becomes `body.todos.3.title`; the offset of a JSON
    syntax error (`("body", 17)`) is dropped."""
    location: Sequence[str | int] = error["loc"]
    if error["type"] == "json_invalid":
        location = [part for part in location if not isinstance(part, int)]
    return ".".join(str(part) for part in location) or "request"


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
    ("header.If-Match", "string_pattern_mismatch"): MALFORMED.format(header="If-Match"),
    ("header.If-None-Match", "string_pattern_mismatch"): MALFORMED.format(header="If-None-Match"),
    ("header.Idempotency-Key", "string_pattern_mismatch"): BAD_KEY,
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
    # The route's query parameters, for an unknown one (empty: the todos' filters).
    parameters: Sequence[str] = ()


# The bodies whose example is not a todo's.
_EXAMPLES: dict[type[BaseModel], str] = {
    TodoBulkCreate: f'{{"todos": [{_EXAMPLE_BODY}]}}',
    TodoBulkChange: '{"is_completed": true}',
    TodoListCreate: f'{{"name": "{EXAMPLE_LIST_NAME}"}}',
    TodoListPatch: '{"name": "Work"}',
    TodoMove: f'{{"after": "{EXAMPLE_TODO_ID}"}}',
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
    read_only = getattr(model, "read_only_fields", READ_ONLY_FIELDS)
    fields = [name for name in model.model_fields if name not in read_only]
    return BodyShape(fields=fields, example=_EXAMPLES.get(model, _EXAMPLE_BODY))


_FILTERS = tuple(TodoFilterQuery.model_fields)


def _unknown_parameter(name: str, parameters: Sequence[str]) -> str:
    """A query parameter the route does not know: a misspelt filter (of a bulk change),
    or parameter (of the lists), most likely."""
    known = parameters or _FILTERS
    kind = "filter" if set(known) == set(_FILTERS) else "parameter"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else "."
    return f"{name} is not a {kind}{hint} The {kind}s are {_listed(list(known))}."


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
            return _unknown_parameter(name, shape.parameters)
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


def body_model(request: Request) -> type[BaseModel] | None:
    body = getattr(request.scope.get("route"), "body_field", None)
    return _model_in(getattr(getattr(body, "field_info", None), "annotation", None))


def query_parameters(request: Request) -> tuple[str, ...]:
    """The names of the route's query parameters."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    names: list[str] = []
    for param in getattr(dependant, "query_params", ()):
        model = _model_in(getattr(param.field_info, "annotation", None))
        # Parameters declared as one model (`Annotated[TodoBulkQuery, Query()]`): its fields.
        names += list(model.model_fields) if model is not None else [param.alias]
    return tuple(names)


def field_error(
    error: Mapping[str, Any], model: type[BaseModel] | None, parameters: Sequence[str] = ()
) -> dict[str, str]:
    """One entry of `field_errors`, for an error in a request whose body is a `model` and
    whose query parameters are `parameters`."""
    field = field_name(error)
    if error["loc"][:1] == ("body",):
        shape: BodyShape | None = body_shape(model, error["loc"])
    else:
        shape = BodyShape(parameters=parameters)
    return {"field": field, "message": validation_message(field, error, shape)}
