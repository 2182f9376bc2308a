"""Every error is problem details (RFC 9457): `application/problem+json` with `type`,
`title`, `status` and `detail`, and the extension members clients already read
(`error_code`, and `field_errors` on a 422). `type` and `title` belong to the error_code,
whatever the occurrence, and are the ones specs/api.md documents; the OpenAPI document
declares problem details for every error response of every operation."""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import make_settings
from tests.helpers import PROBLEM_JSON, create_todo, todo_url, todos_url
from todo_api.api.errors import (
    IDEMPOTENCY_RESPONSES,
    PRECONDITION_RESPONSES,
    PROBLEM_TITLES,
    RESYNC_RESPONSES,
)
from todo_api.main import create_app

API_MD = Path(__file__).parents[3] / "specs" / "api.md"
MISSING_ID = "00000000-0000-4000-8000-000000000000"
MEMBERS = ("type", "title", "status", "detail", "error_code")
ERROR_SCHEMAS = {"#/components/schemas/ErrorBody", "#/components/schemas/ValidationErrorBody"}
JWT_SECRET = "a-test-secret-of-at-least-32-bytes!"


def documented_problem_types() -> dict[str, tuple[str, str, int]]:
    """specs/api.md's table of problem types: error_code -> (type, title, status)."""
    rows = re.findall(
        r"^\| `([A-Z_]+)` \| `([^`]+)` \| ([^|]+?) \| (\d{3}) \|$",
        API_MD.read_text(),
        flags=re.MULTILINE,
    )
    table = {code: (uri, title, int(status)) for code, uri, title, status in rows}
    assert len(table) == len(rows), "an error_code is listed twice"
    return table


DOCUMENTED = documented_problem_types()


def assert_problem(response: httpx.Response, status: int, error_code: str) -> dict[str, Any]:
    """A problem details response with this status and code, whose `type` and `title` are
    the ones specs/api.md gives the code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert all(isinstance(body.get(member), (str, int)) for member in MEMBERS), body
    assert body["error_code"] == error_code
    assert body["status"] == status
    assert body["detail"]
    assert error_code in DOCUMENTED, f"{error_code} is not in the table of specs/api.md"
    assert (body["type"], body["title"], body["status"]) == DOCUMENTED[error_code]
    return body


# --- What a client gets -----------------------------------------------------------------

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _missing_todo(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(todo_url("alice", MISSING_ID))


async def _unknown_route(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/no/such/route")


async def _wrong_method(client: httpx.AsyncClient) -> httpx.Response:
    return await client.put(todos_url("alice"), json={"title": "x"})


async def _duplicate_list(client: httpx.AsyncClient) -> httpx.Response:
    lists = "/api/v1/users/alice/lists"
    assert (await client.post(lists, json={"name": "Home"})).status_code == 201
    return await client.post(lists, json={"name": "HOME"})


async def _list_not_empty(client: httpx.AsyncClient) -> httpx.Response:
    created = await client.post("/api/v1/users/alice/lists", json={"name": "Work"})
    list_id = created.json()["id"]
    await create_todo(client, "alice", list_id=list_id)
    return await client.delete(f"/api/v1/users/alice/lists/{list_id}")


async def _too_large(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(todos_url("alice"), json={"title": "x" * 70_000})


async def _not_json(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        todos_url("alice"), content=b"title=x", headers={"content-type": "text/plain"}
    )


async def _bad_content_length(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(todos_url("alice"), headers={"content-length": "two"})


async def _invalid_body(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(todos_url("alice"), json={"title": ""})


async def _invalid_query(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get(todos_url("alice"), params={"limit": "0"})


CASES: list[tuple[str, Call, int, str]] = [
    ("missing-todo", _missing_todo, 404, "NOT_FOUND"),
    ("unknown-route", _unknown_route, 404, "NOT_FOUND"),
    ("wrong-method", _wrong_method, 405, "METHOD_NOT_ALLOWED"),
    ("duplicate-list", _duplicate_list, 409, "CONFLICT"),
    ("list-not-empty", _list_not_empty, 409, "LIST_NOT_EMPTY"),
    ("too-large", _too_large, 413, "PAYLOAD_TOO_LARGE"),
    ("not-json", _not_json, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("bad-content-length", _bad_content_length, 400, "BAD_REQUEST"),
    ("invalid-body", _invalid_body, 422, "VALIDATION_ERROR"),
    ("invalid-query", _invalid_query, 422, "VALIDATION_ERROR"),
]


@pytest.mark.parametrize(
    ("call", "status", "error_code"),
    [pytest.param(call, status, code, id=name) for name, call, status, code in CASES],
)
async def test_every_error_is_problem_details_of_its_documented_type(
    client: httpx.AsyncClient, call: Call, status: int, error_code: str
) -> None:
    assert_problem(await call(client), status, error_code)


async def test_a_422_keeps_its_field_errors_as_an_extension_member(
    client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await _invalid_body(client), 422, "VALIDATION_ERROR")

    assert body["field_errors"] == [{"field": "body.title", "message": "title must not be blank"}]


async def test_the_type_and_title_belong_to_the_code_not_to_the_occurrence(
    client: httpx.AsyncClient,
) -> None:
    bodies = [
        assert_problem(await _missing_todo(client), 404, "NOT_FOUND"),
        assert_problem(await _unknown_route(client), 404, "NOT_FOUND"),
        assert_problem(await client.get(todos_url("alice") + "/"), 404, "NOT_FOUND"),
    ]

    assert len({body["detail"] for body in bodies}) == len(bodies)
    assert {(body["type"], body["title"]) for body in bodies} == {
        ("urn:todo-api:problem:not-found", "Not Found")
    }


async def test_a_head_of_a_missing_todo_is_declared_as_problem_json(
    client: httpx.AsyncClient,
) -> None:
    response = await client.head(todo_url("alice", MISSING_ID))

    assert (response.status_code, response.content) == (404, b"")
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_a_success_stays_plain_json(client: httpx.AsyncClient) -> None:
    response = await client.post(todos_url("alice"), json={"title": "a todo"})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"


@asynccontextmanager
async def _client_with(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, **settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_the_api_key_401_is_problem_details(app_database_url: str) -> None:
    async with _client_with(app_database_url, api_key=SecretStr("k" * 16)) as client:
        response = await client.get(todos_url("alice"))

    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_jwt_401_and_403_are_problem_details(app_database_url: str) -> None:
    async with _client_with(app_database_url, auth_jwt_secret=SecretStr(JWT_SECRET)) as client:
        missing = await client.get(todos_url("alice"))
        invalid = await client.get(todos_url("alice"), headers={"authorization": "Bearer x.y.z"})

    assert_problem(missing, 401, "UNAUTHORIZED")
    assert_problem(invalid, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]


async def test_the_metrics_token_401_is_problem_details(app_database_url: str) -> None:
    async with _client_with(app_database_url, metrics_token=SecretStr("m" * 16)) as client:
        response = await client.get("/metrics")

    assert_problem(response, 401, "UNAUTHORIZED")


# --- What the OpenAPI document declares -------------------------------------------------


def _error_responses(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, status, response) of every 4xx and 5xx of every operation."""
    return [
        (method, path, status, response)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status[:1] in ("4", "5")
    ]


def _examples(media: dict[str, Any]) -> list[dict[str, Any]]:
    examples = [media["example"]] if "example" in media else []
    return examples + [example["value"] for example in media.get("examples", {}).values()]


def assert_declares_problem_details(document: dict[str, Any]) -> None:
    errors = _error_responses(document)
    assert errors
    for method, path, status, response in errors:
        where = (method, path, status)
        assert set(response.get("content", {})) == {PROBLEM_JSON}, where
        media = response["content"][PROBLEM_JSON]
        assert media["schema"]["$ref"] in ERROR_SCHEMAS, where
        for example in _examples(media):
            assert (example["type"], example["title"], example["status"]) == DOCUMENTED[
                example["error_code"]
            ], where
            assert str(example["status"]) == status, where
    schemas = document["components"]["schemas"]
    for ref in ERROR_SCHEMAS:
        schema = schemas[ref.rsplit("/", 1)[1]]
        assert set(MEMBERS) <= set(schema["required"]), ref
        assert schema["properties"]["type"]["format"] == "uri"


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({}, id="open"),
        pytest.param({"api_key": SecretStr("k" * 16)}, id="api-key"),
        pytest.param(
            {"auth_jwt_secret": SecretStr(JWT_SECRET), "api_key": SecretStr("k" * 16)}, id="jwt"
        ),
    ],
)
async def test_every_error_response_of_every_operation_is_declared_as_problem_json(
    app_database_url: str, settings: dict[str, Any]
) -> None:
    async with _client_with(app_database_url, **settings) as client:
        response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert_declares_problem_details(response.json())


def test_the_responses_for_the_new_features_document_their_problems() -> None:
    """What the routes of conditional requests, idempotency keys and the change feed
    merge into their `responses` (`{**BODY_ERROR_RESPONSES, **PRECONDITION_RESPONSES}`)."""
    codes = {
        status: {example["error_code"] for example in _examples(response["content"][PROBLEM_JSON])}
        for responses in (PRECONDITION_RESPONSES, IDEMPOTENCY_RESPONSES, RESYNC_RESPONSES)
        for status, response in responses.items()
    }

    assert codes == {
        412: {"PRECONDITION_FAILED"},
        428: {"PRECONDITION_REQUIRED"},
        409: {"CONFLICT"},
        422: {"VALIDATION_ERROR", "IDEMPOTENCY_KEY_REUSED"},
        410: {"RESYNC_REQUIRED"},
    }
    assert "ETag" in PRECONDITION_RESPONSES[412]["headers"]
    assert "Retry-After" in IDEMPOTENCY_RESPONSES[409]["headers"]


def test_the_table_of_problem_types_gives_each_code_its_own_type() -> None:
    types = [uri for uri, _, _ in DOCUMENTED.values()]

    assert len(set(types)) == len(types)
    for code, (uri, title, _) in DOCUMENTED.items():
        assert uri == "urn:todo-api:problem:" + code.lower().replace("_", "-"), code
        assert title, code


def test_the_table_lists_every_code_the_server_has_a_title_for() -> None:
    assert set(PROBLEM_TITLES) == set(DOCUMENTED)
    assert {code: title for code, (_, title, _) in DOCUMENTED.items()} == PROBLEM_TITLES
