"""What a tester reads in a 422: one sentence per invalid input, naming the input and the
rule, never a regular expression or pydantic's wording. Every constrained input is here:
each field of the bodies, each path parameter and each query parameter.

And what happens to a key that is not a field: a typo (`completed`) is a 422 naming it,
while the fields the API itself returns (`id`, `user_id`, `created_at`, `updated_at`) are
ignored, so a client can send a todo back as it read it.

The sentences are written out here, not imported, so a change to one fails a test.
"""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import assert_error, create_todo, todo_url, todos_url

NUL = "\x00"
A_TODO_ID = "00000000-0000-4000-8000-000000000000"
USER_ID_CHARACTERS = "user_id may contain only letters, digits and . _ - ~ : @ | +"
FIELDS = "The fields are title, description, is_completed, priority, due_at, tags and list_id."
PRIORITY = "priority must be one of none, low, medium or high"
INSTANT = "must be an RFC 3339 date and time with an offset, such as 2026-11-27T17:00:00Z"
SORTS = (
    "-created_at, created_at, -updated_at, updated_at, -due_at, due_at, -priority, priority "
    "or position"
)


def field_errors(response: httpx.Response) -> list[dict[str, str]]:
    body = assert_error(response, 422, "VALIDATION_ERROR")
    errors: list[dict[str, str]] = body["field_errors"]
    return errors


def one_error(field: str, message: str) -> list[dict[str, str]]:
    return [{"field": field, "message": message}]


# (case, body, field, message) for POST; the same rules hold for PUT and PATCH.
BODY_FIELDS: list[tuple[str, dict[str, Any], str, str]] = [
    ("priority urgent", {"title": "t", "priority": "urgent"}, "body.priority", PRIORITY),
    ("priority HIGH", {"title": "t", "priority": "HIGH"}, "body.priority", PRIORITY),
    ("priority 3", {"title": "t", "priority": 3}, "body.priority", PRIORITY),
    ("priority null", {"title": "t", "priority": None}, "body.priority", PRIORITY),
    (
        "due_at without offset",
        {"title": "t", "due_at": "2026-12-01T09:00:00"},
        "body.due_at",
        f"due_at {INSTANT}",
    ),
    ("due_at a date", {"title": "t", "due_at": "2026-12-01"}, "body.due_at", f"due_at {INSTANT}"),
    ("due_at in seconds", {"title": "t", "due_at": 1764579600}, "body.due_at", f"due_at {INSTANT}"),
    (
        "due_at after 9999",
        {"title": "t", "due_at": "9999-12-31T23:00:00-05:00"},
        "body.due_at",
        "due_at must be before the year 10000 in UTC",
    ),
    (
        "21 tags",
        {"title": "t", "tags": [f"t{i}" for i in range(21)]},
        "body.tags",
        "tags may hold at most 20 items",
    ),
    ("tags a string", {"title": "t", "tags": "work"}, "body.tags", "tags must be an array"),
    ("tags null", {"title": "t", "tags": None}, "body.tags", "tags must not be null"),
    (
        "list_id not a uuid",
        {"title": "t", "list_id": "groceries"},
        "body.list_id",
        "list_id must be a UUID, such as 1b3f3c9e-6a39-4f8e-9a51-6e0f8f1f2b7a",
    ),
    (
        "41-character tag",
        {"title": "t", "tags": ["ok", "x" * 41]},
        "body.tags.1",
        "tags[1] must be at most 40 characters",
    ),
    ("blank tag", {"title": "t", "tags": ["  "]}, "body.tags.0", "tags[0] must not be blank"),
    (
        "NUL in a tag",
        {"title": "t", "tags": ["a\x00"]},
        "body.tags.0",
        "tags[0] must not contain the NUL character (U+0000)",
    ),
    ("missing title", {}, "body.title", "title is required"),
    ("empty title", {"title": ""}, "body.title", "title must not be blank"),
    ("blank title", {"title": "   "}, "body.title", "title must not be blank"),
    ("title of tabs and newlines", {"title": "\t\n "}, "body.title", "title must not be blank"),
    (
        "title of Unicode spaces",
        {"title": "\u3000\u00a0\u2003"},
        "body.title",
        "title must not be blank",
    ),
    (
        "256-character title",
        {"title": "x" * 256},
        "body.title",
        "title must be at most 255 characters",
    ),
    (
        "NUL in the title",
        {"title": f"a{NUL}b"},
        "body.title",
        "title must not contain the NUL character (U+0000)",
    ),
    (
        "title of only a NUL",
        {"title": NUL},
        "body.title",
        "title must not contain the NUL character (U+0000)",
    ),
    ("null title", {"title": None}, "body.title", "title must not be null"),
    ("title as a number", {"title": 5}, "body.title", "title must be a string"),
    ("title as an array", {"title": ["x"]}, "body.title", "title must be a string"),
    (
        "2001-character description",
        {"title": "t", "description": "d" * 2001},
        "body.description",
        "description must be at most 2000 characters",
    ),
    (
        "NUL in the description",
        {"title": "t", "description": f"line{NUL}"},
        "body.description",
        "description must not contain the NUL character (U+0000)",
    ),
    (
        "description as a number",
        {"title": "t", "description": 12},
        "body.description",
        "description must be a string or null",
    ),
    *[
        (
            f"is_completed as {value!r}",
            {"title": "t", "is_completed": value},
            "body.is_completed",
            "is_completed must be a JSON boolean: true or false, without quotes",
        )
        for value in ["true", "false", "yes", 1, 0, 1.0, [True]]
    ],
]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [case[1:] for case in BODY_FIELDS],
    ids=[case[0] for case in BODY_FIELDS],
)
async def test_each_invalid_field_of_a_new_todo_is_one_sentence(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, message: str
) -> None:
    response = await client.post(todos_url("alice"), json=body)

    assert field_errors(response) == one_error(field, message)
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"title": "   "}, "body.title", "title must not be blank"),
        ({"title": None}, "body.title", "title must not be null"),
        (
            {"description": "d" * 2001},
            "body.description",
            "description must be at most 2000 characters",
        ),
        (
            {"is_completed": "true"},
            "body.is_completed",
            "is_completed must be a JSON boolean: true or false, without quotes",
        ),
        ({"is_completed": None}, "body.is_completed", "is_completed must not be null"),
    ],
)
async def test_a_patch_gets_the_same_sentences(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, message: str
) -> None:
    todo = await create_todo(client, "alice")

    response = await client.patch(todo_url("alice", todo["id"]), json=body)

    assert field_errors(response) == one_error(field, message)
    assert (await client.get(todo_url("alice", todo["id"]))).json() == todo


async def test_a_replacement_names_every_missing_field(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice")

    response = await client.put(todo_url("alice", todo["id"]), json={})

    assert field_errors(response) == [
        {"field": "body.title", "message": "title is required"},
        {"field": "body.description", "message": "description is required (null clears it)"},
        {"field": "body.is_completed", "message": "is_completed is required"},
    ]


async def test_every_invalid_field_gets_its_own_sentence(client: httpx.AsyncClient) -> None:
    body = {"title": " ", "description": NUL, "is_completed": "false"}

    response = await client.post(todos_url("alice"), json=body)

    assert field_errors(response) == [
        {"field": "body.title", "message": "title must not be blank"},
        {
            "field": "body.description",
            "message": "description must not contain the NUL character (U+0000)",
        },
        {
            "field": "body.is_completed",
            "message": "is_completed must be a JSON boolean: true or false, without quotes",
        },
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", 'A body is required: a JSON object such as {"title": "Buy milk"}.'),
        (b"[]", 'The body must be a JSON object, such as {"title": "Buy milk"}.'),
        (b'"title"', 'The body must be a JSON object, such as {"title": "Buy milk"}.'),
        (b"null", 'The body must be a JSON object, such as {"title": "Buy milk"}.'),
    ],
    ids=["empty", "array", "string", "null"],
)
async def test_a_body_that_is_not_an_object_says_what_to_send(
    client: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await client.post(
        todos_url("alice"), content=content, headers={"content-type": "application/json"}
    )

    assert field_errors(response) == one_error("body", message)


async def test_a_body_that_is_not_json_says_where_it_breaks(client: httpx.AsyncClient) -> None:
    response = await client.post(
        todos_url("alice"), content=b'{"title": ', headers={"content-type": "application/json"}
    )

    [error] = field_errors(response)
    assert error["field"] == "body"
    assert error["message"].startswith("Body is not valid JSON: ")


# --- path and query ---------------------------------------------------------------------

PATHS: list[tuple[str, str, str, str]] = [
    ("user_id with a space", "/api/v1/users/has%20space/todos", "path.user_id", USER_ID_CHARACTERS),
    ("user_id with ;", "/api/v1/users/semi;colon/todos", "path.user_id", USER_ID_CHARACTERS),
    ("user_id with %", "/api/v1/users/percent%25/todos", "path.user_id", USER_ID_CHARACTERS),
    ("user_id with é", "/api/v1/users/%C3%A9mile/todos", "path.user_id", USER_ID_CHARACTERS),
    ("user_id with *", "/api/v1/users/a*b/todos", "path.user_id", USER_ID_CHARACTERS),
    (
        "user_id with NUL",
        "/api/v1/users/nul%00/todos",
        "path.user_id",
        "user_id must not contain the NUL character (U+0000)",
    ),
    (
        "user_id of 129 characters",
        f"/api/v1/users/{'a' * 129}/todos",
        "path.user_id",
        "user_id must be at most 128 characters",
    ),
    (
        "user_id of dots only",
        "/api/v1/users/.../todos",
        "path.user_id",
        "user_id must not be only dots",
    ),
    *[
        (
            f"todo_id {todo_id!r}",
            f"/api/v1/users/alice/todos/{todo_id}",
            "path.todo_id",
            "todo_id must be a UUID, such as 1b3f3c9e-6a39-4f8e-9a51-6e0f8f1f2b7a",
        )
        for todo_id in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00"]
    ],
]


@pytest.mark.parametrize(
    ("path", "field", "message"), [case[1:] for case in PATHS], ids=[case[0] for case in PATHS]
)
async def test_each_invalid_path_parameter_is_one_sentence(
    client: httpx.AsyncClient, path: str, field: str, message: str
) -> None:
    assert field_errors(await client.get(path)) == one_error(field, message)


QUERIES: list[tuple[str, str, str, str]] = [
    (
        "priority urgent",
        "priority=urgent",
        "query.priority.0",
        "priority[0] must be one of none, low, medium or high",
    ),
    (
        "tag of 41 characters",
        "tag=" + "x" * 41,
        "query.tag.0",
        "tag[0] must be at most 40 characters",
    ),
    (
        "21 tags",
        "&".join(f"tag=t{i}" for i in range(21)),
        "query.tag",
        "tag may hold at most 20 items",
    ),
    (
        "due_before without offset",
        "due_before=2026-12-01T09:00:00",
        "query.due_before",
        f"due_before {INSTANT}",
    ),
    (
        "due_after with a + sent as a space",
        "due_after=2026-12-01T09:00:00+01:00",
        "query.due_after",
        f"due_after {INSTANT} (in a query string, send the offset's + as %2B)",
    ),
    ("overdue perhaps", "overdue=perhaps", "query.overdue", "overdue must be true or false"),
    ("sort by importance", "sort=importance", "query.sort", f"sort must be one of {SORTS}"),
    (
        "list_id not a list",
        "list_id=groceries",
        "query.list_id",
        "list_id must be a list's id, such as 5d0c2a4e-8f1b-4c3d-9e2a-7b6f5a4c3d2e, or none",
    ),
    (
        "sort and order",
        "sort=priority&order=asc",
        "query.order",
        "Send sort or order, not both: order=asc is sort=created_at and order=desc is "
        "sort=-created_at.",
    ),
    ("limit 0", "limit=0", "query.limit", "limit must be at least 1"),
    ("limit -5", "limit=-5", "query.limit", "limit must be at least 1"),
    ("limit 1001", "limit=1001", "query.limit", "limit must be at most 1000"),
    ("limit 10**30", f"limit={10**30}", "query.limit", "limit must be at most 1000"),
    ("limit ten", "limit=ten", "query.limit", "limit must be a whole number"),
    ("limit 1.5", "limit=1.5", "query.limit", "limit must be a whole number"),
    ("empty limit", "limit=", "query.limit", "limit must be a whole number"),
    (
        "cursor with a space",
        "cursor=not%20a%20cursor",
        "query.cursor",
        "cursor must be the next_cursor of a previous page",
    ),
    (
        "cursor of 129 characters",
        "cursor=" + "A" * 129,
        "query.cursor",
        "cursor must be the next_cursor of a previous page",
    ),
    (
        "NUL in q",
        "q=a%00",
        "query.q",
        "q must not contain the NUL character (U+0000)",
    ),
    ("q of 256 characters", "q=" + "x" * 256, "query.q", "q must be at most 255 characters"),
    ("order sideways", "order=sideways", "query.order", "order must be asc or desc"),
    ("order DESC", "order=DESC", "query.order", "order must be asc or desc"),
    (
        "is_completed perhaps",
        "is_completed=perhaps",
        "query.is_completed",
        "is_completed must be true or false",
    ),
]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [case[1:] for case in QUERIES],
    ids=[case[0] for case in QUERIES],
)
async def test_each_invalid_query_parameter_is_one_sentence(
    client: httpx.AsyncClient, query: str, field: str, message: str
) -> None:
    response = await client.get(f"{todos_url('alice')}?{query}")

    assert field_errors(response) == one_error(field, message)


def test_every_constrained_input_is_covered_here(app: FastAPI) -> None:
    """A new input of a new todo or of the listing needs its sentences here (and in
    `api/validation_messages.py`): every field and parameter the document lists."""
    document = app.openapi()
    listing = document["paths"]["/api/v1/users/{user_id}/todos"]
    body_fields = {
        f"body.{name}" for name in document["components"]["schemas"]["TodoCreate"]["properties"]
    }
    read_only = {
        f"body.{name}" for name in ("id", "user_id", "created_at", "updated_at", "completed_at")
    }
    parameters = {f"{p['in']}.{p['name']}" for p in listing["get"]["parameters"]} | {"path.todo_id"}

    assert {
        case[2].split(".")[0] + "." + case[2].split(".")[1] for case in BODY_FIELDS
    } == body_fields - read_only
    assert {".".join(case[2].split(".")[:2]) for case in PATHS + QUERIES} == parameters


# --- keys that are not fields -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"title": "x", "completed": True},
            one_error(
                "body.completed", f"completed is not a field; did you mean is_completed? {FIELDS}"
            ),
        ),
        (
            {"title": "x", "desc": "2 litres"},
            one_error("body.desc", f"desc is not a field; did you mean description? {FIELDS}"),
        ),
        (
            {"title": "x", "colour": "red", "size": "big"},
            [
                {"field": "body.colour", "message": f"colour is not a field. {FIELDS}"},
                {"field": "body.size", "message": f"size is not a field. {FIELDS}"},
            ],
        ),
        (
            {"t\u0456tle": "x"},
            [
                {"field": "body.title", "message": "title is required"},
                {
                    "field": "body.t\u0456tle",
                    "message": f"t\u0456tle is not a field; did you mean title? {FIELDS}",
                },
            ],
        ),
    ],
    ids=["completed", "desc", "two-unknown", "look-alike-title"],
)
async def test_an_unknown_key_in_a_new_todo_is_a_422_naming_it(
    client: httpx.AsyncClient, body: dict[str, Any], errors: list[dict[str, str]]
) -> None:
    response = await client.post(todos_url("alice"), json=body)

    assert field_errors(response) == errors
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PUT", {"title": "x", "description": None, "is_completed": False, "done": True}),
        ("PATCH", {"completed": True}),
    ],
)
async def test_an_unknown_key_in_a_change_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, method: str, body: dict[str, Any]
) -> None:
    todo = await create_todo(client, "alice")
    [unknown] = body.keys() - {"title", "description", "is_completed"}

    response = await client.request(method, todo_url("alice", todo["id"]), json=body)

    [error] = field_errors(response)
    assert error["field"] == f"body.{unknown}"
    assert error["message"].startswith(f"{unknown} is not a field")
    assert (await client.get(todo_url("alice", todo["id"]))).json() == todo


async def test_a_todo_sent_back_as_it_was_read_replaces_it(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", description="2 litres")

    response = await client.put(todo_url("alice", todo["id"]), json={**todo, "title": "Oat milk"})

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["title"] == "Oat milk"
    assert {name: replaced[name] for name in ("id", "user_id", "created_at")} == {
        name: todo[name] for name in ("id", "user_id", "created_at")
    }


async def test_the_fields_the_api_returns_are_ignored_in_a_body(
    client: httpx.AsyncClient,
) -> None:
    other = await create_todo(client, "bob")
    read_only = {
        "id": other["id"],
        "user_id": "bob",
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": 5,
    }

    created = await client.post(todos_url("alice"), json={"title": "mine", **read_only})
    todo = created.json()
    patched = await client.patch(todo_url("alice", todo["id"]), json=read_only)

    assert created.status_code == 201, created.text
    assert (todo["user_id"], todo["title"]) == ("alice", "mine")
    assert todo["id"] != other["id"]
    assert todo["created_at"] != read_only["created_at"]
    assert patched.status_code == 200, patched.text
    assert patched.json() == todo  # only ignored keys: nothing changed, not even updated_at
    assert (await client.get(todo_url("bob", other["id"]))).json() == other


async def test_an_unknown_query_parameter_is_still_ignored(client: httpx.AsyncClient) -> None:
    response = await client.get(todos_url("alice"), params={"colour": "red"})

    assert response.status_code == 200
