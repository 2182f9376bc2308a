"""What the OpenAPI document says beyond what FastAPI derives from the routes.

FastAPI builds the document from the route decorators and the models; this module adds,
in one place, after that:

- **Links** from "create" to get, replace, patch, complete and delete, and from "delete"
  back to them, so generic clients (Swagger UI, schemathesis's stateful phase) can follow
  a new todo's `id` and its `user_id` from one call to the next; and likewise from a
  created (or deleted) list to get, rename and delete it.
- The **API key** security schemes, the `security` requirement on every `/api`
  operation, and its 401 response, only when the server runs with `API_KEY`: the
  document describes the server that serves it. (The published snapshot,
  `specs/openapi.json`, is the document of a server without a key.)
- The **JWT bearer** scheme instead, with the 401 and 403, when the server runs with JWT
  auth (`AUTH_JWKS_URL` or `AUTH_JWT_SECRET`), plus the `X-API-Key` scheme when it has an
  `API_KEY` too (see `api/jwt_auth.py`).
- **Problem details** for every error response: FastAPI files the schema of a documented
  error under the route's media type, `application/json`; every 4xx and 5xx is served as
  `application/problem+json` (`api/errors.py`), so that is where its schema goes.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from todo_api.api.errors import PROBLEM_MEDIA_TYPE
from todo_api.api.security import API_KEY_HEADER, PROTECTED_PREFIX

JsonObject = dict[str, Any]

COLLECTION = "/api/v1/users/{user_id}/todos"
ITEM = COLLECTION + "/{todo_id}"
COMPLETE = ITEM + "/complete"
LISTS = "/api/v1/users/{user_id}/lists"
LIST_ITEM = LISTS + "/{list_id}"

BEARER_SCHEME = "BearerAuth"
API_KEY_SCHEME = "ApiKeyHeader"
JWT_SCHEME = "BearerJWT"

# (link name, method, path, what it does) of each operation that takes a todo by its id.
_TODO_OPERATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("GetTodo", "get", ITEM, "Get"),
    ("ReplaceTodo", "put", ITEM, "Replace"),
    ("PatchTodo", "patch", ITEM, "Update some fields of"),
    ("ToggleCompleted", "patch", COMPLETE, "Toggle the completion of"),
    ("DeleteTodo", "delete", ITEM, "Delete"),
)
# The same for lists.
_LIST_OPERATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("GetList", "get", LIST_ITEM, "Get"),
    ("PatchList", "patch", LIST_ITEM, "Rename"),
    ("DeleteList", "delete", LIST_ITEM, "Delete"),
)


def _operation_id(document: JsonObject, method: str, path: str) -> str:
    operation_id: str = document["paths"][path][method]["operationId"]
    return operation_id


def _links(
    document: JsonObject,
    parameters: dict[str, str],
    which: str,
    operations: tuple[tuple[str, str, str, str], ...] = _TODO_OPERATIONS,
) -> JsonObject:
    return {
        name: {
            "operationId": _operation_id(document, method, path),
            "parameters": parameters,
            "description": f"{action} {which}.",
        }
        for name, method, path, action in operations
    }


def add_links(document: JsonObject) -> None:
    """Create 201 -> each item operation, by the new `id` and the request's `user_id`;
    delete 204 -> each item operation again (each must now answer 404)."""
    paths = document["paths"]
    created = paths[COLLECTION]["post"]["responses"]["201"]
    created["links"] = _links(
        document,
        {"user_id": "$request.path.user_id", "todo_id": "$response.body#/id"},
        "the todo just created",
    )
    deleted = paths[ITEM]["delete"]["responses"]["204"]
    deleted["links"] = _links(
        document,
        {"user_id": "$request.path.user_id", "todo_id": "$request.path.todo_id"},
        "the todo just deleted (a 404)",
    )
    _add_list_links(document)


def _add_list_links(document: JsonObject) -> None:
    """The same for lists: create 201 -> get, rename, delete; delete 204 -> them again."""
    paths = document["paths"]
    created = paths[LISTS]["post"]["responses"]["201"]
    created["links"] = _links(
        document,
        {"user_id": "$request.path.user_id", "list_id": "$response.body#/id"},
        "the list just created",
        _LIST_OPERATIONS,
    )
    deleted = paths[LIST_ITEM]["delete"]["responses"]["204"]
    deleted["links"] = _links(
        document,
        {"user_id": "$request.path.user_id", "list_id": "$request.path.list_id"},
        "the list just deleted (a 404)",
        _LIST_OPERATIONS,
    )


def require_api_key(document: JsonObject) -> None:
    """Declare the two ways to send the key and require one of them on every /api operation."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "The API key as a Bearer token: `Authorization: Bearer <key>`.",
        },
        API_KEY_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": f"The API key in the `{API_KEY_HEADER}` header.",
        },
    }
    for path, operations in document["paths"].items():
        if path != PROTECTED_PREFIX and not path.startswith(PROTECTED_PREFIX + "/"):
            continue
        for operation in operations.values():
            operation["security"] = [{BEARER_SCHEME: []}, {API_KEY_SCHEME: []}]
            operation["responses"]["401"] = _error_response("The API key is missing or wrong.")


_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}


def _error_response(description: str) -> JsonObject:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _ERROR_SCHEMA}}}


def _is_error(status: str) -> bool:
    return status[:1] in ("4", "5")


def declare_problem_details(document: JsonObject) -> None:
    """Every error response of every operation as `application/problem+json`: what FastAPI
    filed under `application/json` (the schema of the `model`) is merged into it, and an
    error documented without a body gets the `ErrorBody` schema."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if not _is_error(status):
                    continue
                content = response.setdefault("content", {})
                as_json = content.pop("application/json", {})
                problem = content.setdefault(PROBLEM_MEDIA_TYPE, {})
                content[PROBLEM_MEDIA_TYPE] = {**as_json, **problem}
                content[PROBLEM_MEDIA_TYPE].setdefault("schema", _ERROR_SCHEMA)


def headers_are_strings(document: JsonObject) -> None:
    """An optional header (`If-Match`, `Idempotency-Key`) is a string when sent: FastAPI
    types it `string or null`, but a header cannot be null (it is absent), and a client
    generated from the document should not send the text `null`."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                if parameter["in"] != "header" or "anyOf" not in schema:
                    continue
                (string,) = [branch for branch in schema.pop("anyOf") if branch != {"type": "null"}]
                schema.update(string)


def require_jwt(document: JsonObject, *, with_api_key: bool) -> None:
    """Declare the JWT bearer scheme (and, with an API key too, `X-API-Key` as the other
    way in) and require it on every /api operation, with its 401 and, where the path names
    a user, its 403."""
    components = document.setdefault("components", {})
    schemes: JsonObject = {
        JWT_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "A JWT from the identity provider: `Authorization: Bearer <token>`. Its user "
                "claim (`sub` unless configured otherwise) must be the path's `user_id`."
            ),
        }
    }
    security: list[JsonObject] = [{JWT_SCHEME: []}]
    if with_api_key:
        schemes[API_KEY_SCHEME] = {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": (
                f"The API key in the `{API_KEY_HEADER}` header: a trusted service, which may "
                "act for any `user_id`."
            ),
        }
        security.append({API_KEY_SCHEME: []})
    components["securitySchemes"] = schemes
    for path, operations in document["paths"].items():
        if path != PROTECTED_PREFIX and not path.startswith(PROTECTED_PREFIX + "/"):
            continue
        for operation in operations.values():
            operation["security"] = security
            operation["responses"]["401"] = _error_response(
                "The bearer token is missing, malformed, expired or wrongly signed "
                "(see `WWW-Authenticate`)."
            )
            if "{user_id}" in path:
                operation["responses"]["403"] = _error_response(
                    "The token is valid but for another user than the path's `user_id`."
                )


def extend(document: JsonObject, *, api_key_required: bool, jwt_auth: bool = False) -> JsonObject:
    """The document with everything this module adds; `document` is changed in place."""
    add_links(document)
    declare_problem_details(document)
    headers_are_strings(document)
    if jwt_auth:
        require_jwt(document, with_api_key=api_key_required)
    elif api_key_required:
        require_api_key(document)
    return document


def install_openapi_extras(app: FastAPI, *, api_key_required: bool, jwt_auth: bool = False) -> None:
    """Make `app.openapi()` (and so `/openapi.json` and `make openapi`) return the extended
    document. It is built once, on first use, like FastAPI's own."""
    generate: Callable[[], JsonObject] = app.openapi

    def openapi() -> JsonObject:
        if app.openapi_schema is None:
            app.openapi_schema = extend(
                generate(), api_key_required=api_key_required, jwt_auth=jwt_auth
            )
        return app.openapi_schema

    # FastAPI's documented way to extend the document is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]
