"""What the OpenAPI document adds to FastAPI's (`todo_api/api/openapi_extras.py`): links
for generic clients, the title rule as a pattern, and the API key when one is configured;
and what the routes and models add: short operationIds, examples in every schema, and
bodies that refuse unknown keys."""

import copy
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from todo_api.main import create_app
from todo_api.models.fields import NON_BLANK_TEXT
from todo_api.models.todos import TodoCreate, TodoPatch, TodoReplace
from todo_api.settings import Settings

SNAPSHOT = json.loads((Path(__file__).parents[3] / "specs" / "openapi.json").read_text())
ITEM = "/api/v1/users/{user_id}/todos/{todo_id}"
LINKED = {
    "GetTodo": ("get", ITEM),
    "ReplaceTodo": ("put", ITEM),
    "PatchTodo": ("patch", ITEM),
    "ToggleCompleted": ("patch", ITEM + "/complete"),
    "DeleteTodo": ("delete", ITEM),
}


def _operation_ids(document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        operation["operationId"]: (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


# Short, stable names for code generators and for links, not FastAPI's, which spell out the
# function and the path (get_todo_api_v1_users__user_id__todos__todo_id__get).
OPERATION_IDS = {
    "createTodo": ("post", "/api/v1/users/{user_id}/todos"),
    "listTodos": ("get", "/api/v1/users/{user_id}/todos"),
    "patchTodos": ("patch", "/api/v1/users/{user_id}/todos"),
    "deleteTodos": ("delete", "/api/v1/users/{user_id}/todos"),
    "createTodos": ("post", "/api/v1/users/{user_id}/todos/bulk"),
    "getTodoStats": ("get", "/api/v1/users/{user_id}/todos/stats"),
    "getTodo": ("get", ITEM),
    "replaceTodo": ("put", ITEM),
    "patchTodo": ("patch", ITEM),
    "toggleTodo": ("patch", ITEM + "/complete"),
    "deleteTodo": ("delete", ITEM),
    "moveTodo": ("post", ITEM + "/move"),
    "createList": ("post", "/api/v1/users/{user_id}/lists"),
    "listLists": ("get", "/api/v1/users/{user_id}/lists"),
    "getList": ("get", "/api/v1/users/{user_id}/lists/{list_id}"),
    "patchList": ("patch", "/api/v1/users/{user_id}/lists/{list_id}"),
    "deleteList": ("delete", "/api/v1/users/{user_id}/lists/{list_id}"),
    "listChanges": ("get", "/api/v1/users/{user_id}/changes"),
    "checkLiveness": ("get", "/health"),
    "checkReadiness": ("get", "/health/ready"),
}


def test_every_operation_has_its_short_camel_case_operation_id() -> None:
    operations = [
        (method, path, operation["operationId"])
        for path, methods in SNAPSHOT["paths"].items()
        for method, operation in methods.items()
    ]

    assert {operation_id: (method, path) for method, path, operation_id in operations} == (
        OPERATION_IDS
    )
    assert len(operations) == len(OPERATION_IDS)  # unique: none is hidden behind another
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", name) for name in OPERATION_IDS)


def test_every_property_of_every_schema_has_a_real_example() -> None:
    """Swagger UI's "Try it out" and ReDoc's samples use them; without, they show strings
    generated from the patterns, different on every load."""
    missing = [
        f"{name}.{field}"
        for name, schema in SNAPSHOT["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()  # enums have none
        if not prop.get("examples")
        and not prop.get("readOnly")
        # A nested schema has examples of its own, checked as one of the schemas.
        and "$ref" not in prop
        and "$ref" not in prop.get("items", {})
        and not any("$ref" in branch for branch in prop.get("anyOf", []))
    ]

    assert missing == []
    todo = SNAPSHOT["components"]["schemas"]["TodoPublic"]["properties"]
    assert todo["title"]["examples"] == ["Buy milk"]
    assert TodoCreate(title=todo["title"]["examples"][0]).title == "Buy milk"


@pytest.mark.parametrize("name", ["TodoCreate", "TodoReplace", "TodoPatch"])
def test_a_body_schema_refuses_unknown_keys_and_marks_the_ignored_ones_read_only(
    name: str,
) -> None:
    schema = SNAPSHOT["components"]["schemas"][name]
    read_only = {field for field, prop in schema["properties"].items() if prop.get("readOnly")}

    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) - read_only == {
        "title",
        "description",
        "is_completed",
        "priority",
        "due_at",
        "tags",
        "list_id",
    }
    assert read_only == {"id", "user_id", "created_at", "updated_at", "completed_at"}
    # Any value is accepted (and ignored), so the schema constrains none.
    assert all(
        set(schema["properties"][field]) == {"readOnly", "description"} for field in read_only
    )
    assert not set(schema.get("required", [])) & read_only


@pytest.mark.parametrize(
    ("method", "path", "status", "todo_id"),
    [
        ("post", "/api/v1/users/{user_id}/todos", "201", "$response.body#/id"),
        ("delete", ITEM, "204", "$request.path.todo_id"),
    ],
)
def test_links_lead_from_a_todo_to_every_operation_on_it(
    method: str, path: str, status: str, todo_id: str
) -> None:
    links = SNAPSHOT["paths"][path][method]["responses"][status]["links"]
    operation_ids = _operation_ids(SNAPSHOT)

    assert {name: operation_ids[link["operationId"]] for name, link in links.items()} == LINKED
    for link in links.values():
        assert link["parameters"] == {"user_id": "$request.path.user_id", "todo_id": todo_id}


LIST_ITEM = "/api/v1/users/{user_id}/lists/{list_id}"
LIST_LINKED = {
    "GetList": ("get", LIST_ITEM),
    "PatchList": ("patch", LIST_ITEM),
    "DeleteList": ("delete", LIST_ITEM),
}


@pytest.mark.parametrize(
    ("method", "path", "status", "list_id"),
    [
        ("post", "/api/v1/users/{user_id}/lists", "201", "$response.body#/id"),
        ("delete", LIST_ITEM, "204", "$request.path.list_id"),
    ],
)
def test_links_lead_from_a_list_to_every_operation_on_it(
    method: str, path: str, status: str, list_id: str
) -> None:
    links = SNAPSHOT["paths"][path][method]["responses"][status]["links"]
    operation_ids = _operation_ids(SNAPSHOT)

    assert {name: operation_ids[link["operationId"]] for name, link in links.items()} == (
        LIST_LINKED
    )
    for link in links.values():
        assert link["parameters"] == {"user_id": "$request.path.user_id", "list_id": list_id}


def test_the_created_todo_has_the_id_the_links_read() -> None:
    created = SNAPSHOT["paths"]["/api/v1/users/{user_id}/todos"]["post"]["responses"]["201"]
    schema = created["content"]["application/json"]["schema"]
    todo = SNAPSHOT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]

    assert "id" in todo["required"]


PROBLEM_SCHEMAS = {"ErrorBody", "ValidationErrorBody"}


def test_every_title_schema_says_a_title_must_not_be_blank() -> None:
    titles = [
        schema["properties"]["title"]
        for name, schema in SNAPSHOT["components"]["schemas"].items()
        # A problem's `title` is the summary of an error, not a todo's or a list's.
        if "title" in schema.get("properties", {}) and name not in PROBLEM_SCHEMAS
    ]

    assert len(titles) == 4
    assert all(title["pattern"] == NON_BLANK_TEXT for title in titles)


def _accepted(title: str) -> bool:
    try:
        TodoCreate(title=title)
    except ValidationError:
        return False
    return True


PATTERN = re.compile(NON_BLANK_TEXT)
# Every character that could count as blank: controls, separators and format characters.
BLANK_CANDIDATES = [
    chr(code)
    for code in range(sys.maxunicode + 1)
    if unicodedata.category(chr(code)) in {"Cc", "Cf", "Zs", "Zl", "Zp"}
    and not 0xD800 <= code <= 0xDFFF
]


def test_the_title_pattern_accepts_exactly_the_characters_the_server_keeps() -> None:
    disagreements = [
        f"U+{ord(char):04X}"
        for char in BLANK_CANDIDATES
        if (PATTERN.fullmatch(char) is not None) != _accepted(char)
    ]

    assert disagreements == []


@settings(max_examples=300, derandomize=True, database=None)
@given(
    st.text(
        st.sampled_from(["a", " ", "\t", "\u3000", "\u00a0", "\x1f", "\u200b", "\x00"])
        | st.characters(codec="utf-8"),
        max_size=40,
    )
)
def test_a_title_matches_the_pattern_exactly_when_the_server_accepts_it(title: str) -> None:
    assert (PATTERN.fullmatch(title) is not None) == _accepted(title)


@pytest.mark.parametrize("model", [TodoReplace, TodoPatch])
def test_every_body_with_a_title_applies_the_same_rule(model: type[TodoPatch]) -> None:
    fields = {"description": None, "is_completed": False} if model is TodoReplace else {}
    with pytest.raises(ValidationError):
        model(title="\u2003 \t", **fields)
    assert model(title="\x1f", **fields).title == "\x1f"


def _keyless(document: dict[str, Any]) -> dict[str, Any]:
    """`document` without what an API key adds to it."""
    stripped = copy.deepcopy(document)
    del stripped["components"]["securitySchemes"]
    for path, operations in stripped["paths"].items():
        for operation in operations.values():
            if path.startswith("/api/"):
                assert operation.pop("security") == [{"BearerAuth": []}, {"ApiKeyHeader": []}]
                unauthorized = operation["responses"].pop("401")["content"]
                assert unauthorized == {
                    "application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/ErrorBody"}
                    }
                }
            else:
                assert "security" not in operation
    return stripped


async def test_with_an_api_key_the_document_adds_the_key_and_nothing_else() -> None:
    app = create_app(Settings(_env_file=None, database_url=None, api_key=SecretStr("k" * 16)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        served = (await client.get("/openapi.json")).json()  # open: the docs need it

    assert served["components"]["securitySchemes"] == {
        "BearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "The API key as a Bearer token: `Authorization: Bearer <key>`.",
        },
        "ApiKeyHeader": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "The API key in the `X-API-Key` header.",
        },
    }
    assert _keyless(served) == SNAPSHOT


def test_without_an_api_key_the_document_names_none() -> None:
    assert "securitySchemes" not in SNAPSHOT["components"]
    assert all(
        "security" not in operation and "401" not in operation["responses"]
        for operations in SNAPSHOT["paths"].values()
        for operation in operations.values()
    )
