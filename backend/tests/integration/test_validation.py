"""Bad input gets a clear 4xx JSON error and changes nothing."""

from typing import Any

import httpx
import pytest

from tests.helpers import assert_error, assert_validation_error, create_todo, todo_url, todos_url

VALID = {"title": "valid", "description": None, "is_completed": False}

INVALID_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing title", {}, "body.title"),
    ("empty title", {"title": ""}, "body.title"),
    ("whitespace-only title", {"title": " \t\n "}, "body.title"),
    ("Unicode-space-only title", {"title": "\u3000\u00a0\u2003"}, "body.title"),
    ("256-character title", {"title": "x" * 256}, "body.title"),
    ("NUL in title", {"title": "a\x00b"}, "body.title"),
    ("title not a string", {"title": 5}, "body.title"),
    ("null title", {"title": None}, "body.title"),
    ("2001-character description", {"title": "t", "description": "d" * 2001}, "body.description"),
    ("NUL in description", {"title": "t", "description": "\x00"}, "body.description"),
    ("is_completed not a boolean", {"title": "t", "is_completed": "maybe"}, "body.is_completed"),
    ("is_completed as a string", {"title": "t", "is_completed": "true"}, "body.is_completed"),
    ("is_completed as a number", {"title": "t", "is_completed": 1}, "body.is_completed"),
]


@pytest.mark.parametrize(
    ("body", "field"), [case[1:] for case in INVALID_BODIES], ids=[c[0] for c in INVALID_BODIES]
)
async def test_create_rejects_invalid_fields_and_stores_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert_validation_error(await client.post(todos_url("alice"), json=body), field)

    assert (await client.get(todos_url("alice"))).json()["count"] == 0


async def test_limits_are_inclusive(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title="x" * 255, description="d" * 2000)

    assert len(todo["title"]) == 255
    assert len(todo["description"]) == 2000


async def test_title_is_limited_as_sent_and_stored_trimmed(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title="  " + "x" * 251 + "  ")
    too_long = await client.post(todos_url("alice"), json={"title": "x" * 255 + " "})

    assert todo["title"] == "x" * 251
    assert_validation_error(too_long, "body.title")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": None, "is_completed": False}, "body.title"),
        ({"title": "t", "is_completed": False}, "body.description"),
        ({"title": "t", "description": None}, "body.is_completed"),
        ({**VALID, "title": "   "}, "body.title"),
    ],
)
async def test_put_requires_every_field_and_changes_nothing_when_invalid(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    todo = await create_todo(client, "alice", description="keep")

    assert_validation_error(await client.put(todo_url("alice", todo["id"]), json=body), field)

    assert (await client.get(todo_url("alice", todo["id"]))).json() == todo


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "body.title"),
        ({"is_completed": None}, "body.is_completed"),
        ({"title": ""}, "body.title"),
        ({"title": "ok", "description": "x" * 2001}, "body.description"),
        ({"description": "\x00"}, "body.description"),
    ],
)
async def test_patch_rejects_invalid_fields_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    todo = await create_todo(client, "alice", description="keep")

    assert_validation_error(await client.patch(todo_url("alice", todo["id"]), json=body), field)

    assert (await client.get(todo_url("alice", todo["id"]))).json() == todo


@pytest.mark.parametrize(
    "user_id",
    [
        "a" * 129,
        "has space",
        "semi;colon",
        "quote'",
        "percent%25",
        "nul%00",
        "émile",
        "a*b",
        "...",
    ],
)
async def test_bad_user_ids_are_rejected(client: httpx.AsyncClient, user_id: str) -> None:
    assert_validation_error(await client.get(todos_url(user_id)), "path.user_id")
    assert_validation_error(await client.post(todos_url(user_id), json=VALID), "path.user_id")


@pytest.mark.parametrize(
    "user_id",
    [
        "a",
        "a" * 128,
        "auth0|abc123",
        "user_2NfXyZ",
        "6a1e0b1c-4d2f-4a5e-9f0a-1b2c3d4e5f60",
        "a.b_c-d~e:f@g+h",
    ],
)
async def test_every_documented_user_id_form_is_accepted(
    client: httpx.AsyncClient, user_id: str
) -> None:
    todo = await create_todo(client, user_id)

    assert todo["user_id"] == user_id


@pytest.mark.parametrize(
    "todo_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00"]
)
async def test_malformed_todo_ids_are_rejected(client: httpx.AsyncClient, todo_id: str) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, todo_url("alice", todo_id))
        assert_validation_error(response, "path.todo_id")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 1001}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"limit": 10**30}, "query.limit"),
        ({"order": "sideways"}, "query.order"),
        ({"is_completed": "perhaps"}, "query.is_completed"),
        ({"q": "a\x00"}, "query.q"),
        ({"q": "x" * 256}, "query.q"),
        ({"cursor": "not a cursor!"}, "query.cursor"),
        ({"cursor": "Zm9yZ2Vk"}, "query.cursor"),
        ({"cursor": "A" * 129}, "query.cursor"),
    ],
)
async def test_bad_list_parameters_are_rejected(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    assert_validation_error(await client.get(todos_url("alice"), params=params), field)


RAW_BODIES = [
    ("truncated JSON", b'{"title": '),
    ("not JSON at all", b"title=hello"),
    ("invalid UTF-8", b'{"title": "\xff\xfe"}'),
    ("lone surrogate", b'{"title": "\\ud800"}'),
    ("nested thousands deep", b'{"title": "t", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    ("a JSON array", b'[{"title": "t"}]'),
    ("a bare string", b'"title"'),
    ("NaN literal", b'{"title": "t", "is_completed": NaN}'),
]


@pytest.mark.parametrize("body", [c[1] for c in RAW_BODIES], ids=[c[0] for c in RAW_BODIES])
async def test_malformed_json_is_a_422_and_stores_nothing(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        todos_url("alice"), content=body, headers={"content-type": "application/json"}
    )

    assert_error(response, 422, "VALIDATION_ERROR")
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_by_content_type_is_a_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    todo = await create_todo(client, "alice")

    for method, url in [
        ("POST", todos_url("alice")),
        ("PUT", todo_url("alice", todo["id"])),
        ("PATCH", todo_url("alice", todo["id"])),
    ]:
        response = await client.request(method, url, content=b'{"title": "x"}', headers=headers)
        assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")

    assert (await client.get(todos_url("alice"))).json()["items"] == [todo]


async def test_json_with_a_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        todos_url("alice"),
        content=b'{"title": "x"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201


async def test_a_body_over_64_kib_is_a_413_and_stores_nothing(client: httpx.AsyncClient) -> None:
    body = b'{"title": "t", "description": "' + b"d" * (65 * 1024) + b'"}'

    response = await client.post(
        todos_url("alice"), content=body, headers={"content-type": "application/json"}
    )

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


async def test_a_wrong_method_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post(todo_url("alice", "00000000-0000-4000-8000-000000000000"))

    body = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "field_errors" not in body
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"
    collection = await client.put(todos_url("alice"))
    assert collection.headers["allow"] == "DELETE, GET, HEAD, PATCH, POST"


@pytest.mark.parametrize(
    "path", ["/", "/api/v2/users/alice/todos", "/api/v1/users/alice", "/api/v1/todos"]
)
async def test_an_unknown_route_is_a_json_404(client: httpx.AsyncClient, path: str) -> None:
    assert_error(await client.get(path), 404, "NOT_FOUND")


async def test_a_streamed_body_over_64_kib_is_a_413_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> Any:
        yield b'{"title": "t", "description": "'
        for _ in range(65):
            yield b"d" * 1024
        yield b'"}'

    response = await client.post(
        todos_url("alice"), content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


@pytest.mark.parametrize(
    "path",
    ["/health", "/health/ready", "/api/v1/users/alice/todos", "/api/v1/users/alice/todos/stats"],
)
async def test_head_answers_wherever_get_does_with_its_headers_and_no_body(
    client: httpx.AsyncClient, path: str
) -> None:
    """RFC 9110, 9.3.2: monitors and `curl -I` send HEAD."""
    get = await client.get(path)
    head = await client.head(path)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_head_of_a_todo_and_of_a_missing_one(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title="t")

    found = await client.head(todo_url("alice", todo["id"]))
    missing = await client.head(todo_url("alice", "00000000-0000-4000-8000-000000000000"))

    assert (found.status_code, found.content) == (200, b"")
    assert (missing.status_code, missing.content) == (404, b"")
    assert missing.headers["content-type"] == "application/problem+json"


async def test_head_is_no_way_around_a_missing_method(client: httpx.AsyncClient) -> None:
    """Only where GET works: the bulk create's path serves POST alone."""
    response = await client.head(f"{todos_url('alice')}/bulk")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
