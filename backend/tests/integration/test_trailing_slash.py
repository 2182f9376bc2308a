"""A path with a trailing slash: no path of the API has one, and instead of a bodyless 307
redirect (which curl shows as nothing) the answer is the JSON 404 of any unknown path,
saying what to change when the path without the slash exists. Nothing is created or
changed."""

import httpx
import pytest

from tests.helpers import assert_error, create_todo, todo_url, todos_url

SLASH = "Resource not found. Remove the trailing slash: no path here ends with one."


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("PATCH", "/complete"),
    ],
)
async def test_a_todo_path_with_a_trailing_slash_is_a_json_404_that_says_so(
    client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    todo = await create_todo(client, "alice")
    body = {"title": "changed", "description": None, "is_completed": True}

    response = await client.request(
        method, f"{todo_url('alice', todo['id'])}{suffix}/", json=body, follow_redirects=False
    )

    assert assert_error(response, 404, "NOT_FOUND")["detail"] == SLASH
    assert "location" not in response.headers
    assert (await client.get(todo_url("alice", todo["id"]))).json() == todo


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_collection_with_a_trailing_slash_is_a_json_404_and_creates_nothing(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(
        method, todos_url("alice") + "/", json={"title": "x"}, follow_redirects=False
    )

    assert assert_error(response, 404, "NOT_FOUND")["detail"] == SLASH
    assert "location" not in response.headers
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


@pytest.mark.parametrize("path", ["/health/", "/health/ready/", "/openapi.json/", "/docs/"])
async def test_every_route_answers_the_same_with_a_trailing_slash(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, follow_redirects=False)

    assert assert_error(response, 404, "NOT_FOUND")["detail"] == SLASH


@pytest.mark.parametrize("path", ["/", "/api/v1/users/alice/", "/api/v1/", "/nothing/"])
async def test_a_path_that_is_no_route_either_way_is_the_plain_404(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, follow_redirects=False)

    assert assert_error(response, 404, "NOT_FOUND")["detail"] == "Resource not found."
