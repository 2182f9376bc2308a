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


async def test_bulk_operations_and_stats_of_one_user_never_reach_another(
    client: httpx.AsyncClient,
) -> None:
    """Bob's bulk create, bulk change (with no filter at all, and with filters that match
    Alice's todos), bulk delete and stats act on Bob's todos alone and reveal nothing of
    Alice's; Alice's todos are exactly as they were."""
    alice = [
        await create_todo(client, "alice", title="secret", tags=["Home"], priority="high"),
        await create_todo(client, "alice", title="done", is_completed=True, tags=["work"]),
    ]
    created = await client.post(
        f"{todos_url('bob')}/bulk",
        json={"todos": [{"title": "b1", "tags": ["home"]}, {"title": "b2", "user_id": "alice"}]},
    )
    assert created.status_code == 201, created.text
    assert {item["user_id"] for item in created.json()["items"]} == {"bob"}

    changed_all = await client.patch(todos_url("bob"), json={"priority": "low", "tags": ["x"]})
    changed_alices = await client.patch(
        todos_url("bob"), params={"q": "secret", "tag": "home"}, json={"is_completed": True}
    )
    stats = await client.get(f"{todos_url('bob')}/stats", params={"tz": "Europe/Paris"})
    searched = await client.get(f"{todos_url('bob')}/stats", params={"q": "secret"})
    deleted = await client.delete(todos_url("bob"), params={"is_completed": "true"})
    deleted_open = await client.delete(todos_url("bob"), params={"is_completed": "false"})

    assert changed_all.json() == {"updated": 2}
    assert changed_alices.json() == {"updated": 0}
    assert stats.json()["total"] == 2
    assert stats.json()["by_priority"] == {"none": 0, "low": 2, "medium": 0, "high": 0}
    assert stats.json()["by_tag"] == [{"tag": "x", "open": 2, "total": 2}]
    assert searched.json()["total"] == 0
    assert searched.json()["by_tag"] == []
    assert deleted.json() == {"deleted": 0}
    assert deleted_open.json() == {"deleted": 2}
    for todo in alice:
        assert (await client.get(todo_url("alice", todo["id"]))).json() == todo
    alice_stats = (await client.get(f"{todos_url('alice')}/stats")).json()
    assert (alice_stats["total"], alice_stats["completed"]) == (2, 1)


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"is_completed": True}),
        ("DELETE", "?is_completed=false", None),
        ("GET", "/stats", None),
    ],
)
async def test_collection_operations_of_a_user_id_differing_in_case_are_another_users(
    client: httpx.AsyncClient, method: str, suffix: str, body: dict[str, object] | None
) -> None:
    owned = await create_todo(client, "Alice")

    response = await client.request(method, todos_url("alice") + suffix, json=body)

    assert response.status_code == 200, response.text
    assert next(iter(response.json().values())) == 0
    assert (await client.get(todo_url("Alice", owned["id"]))).json() == owned
