"""A user sees only their own todos: another user's todo is "not found", whatever they try."""

import httpx
import pytest

from tests.helpers import assert_error, create_todo, todo_url, todos_url

ATTEMPTS = [
    ("GET", "", None),
    ("PUT", "", {"title": "stolen", "description": None, "is_completed": True}),
    ("PATCH", "", {"title": "stolen"}),
    ("PATCH", "/complete", None),
    ("DELETE", "", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ATTEMPTS)
async def test_another_users_todo_is_not_found_and_unchanged(
    client: httpx.AsyncClient, method: str, suffix: str, body: dict[str, object] | None
) -> None:
    owned = await create_todo(client, "alice", title="mine")

    response = await client.request(method, todo_url("bob", owned["id"]) + suffix, json=body)

    assert_error(response, 404, "NOT_FOUND")
    assert (await client.get(todo_url("alice", owned["id"]))).json() == owned


async def test_not_found_is_identical_for_unknown_and_foreign_ids(
    client: httpx.AsyncClient,
) -> None:
    owned = await create_todo(client, "alice")

    foreign = await client.get(todo_url("bob", owned["id"]))
    unknown = await client.get(todo_url("bob", "00000000-0000-4000-8000-000000000000"))

    assert foreign.json() == unknown.json()


async def test_lists_and_counts_hold_only_the_users_own_todos(client: httpx.AsyncClient) -> None:
    for title in ("a1", "a2"):
        await create_todo(client, "alice", title=title)
    await create_todo(client, "bob", title="b1")

    alice = (await client.get(todos_url("alice"))).json()
    bob = (await client.get(todos_url("bob"))).json()

    assert sorted(item["title"] for item in alice["items"]) == ["a1", "a2"]
    assert alice["count"] == 2
    assert [item["title"] for item in bob["items"]] == ["b1"]
    assert bob["count"] == 1
    searched = (await client.get(todos_url("bob"), params={"q": "a"})).json()
    assert searched == {"items": [], "count": 0, "next_cursor": None}


async def test_user_ids_differing_only_in_case_are_different_users(
    client: httpx.AsyncClient,
) -> None:
    owned = await create_todo(client, "Alice")

    assert_error(await client.get(todo_url("alice", owned["id"])), 404, "NOT_FOUND")
