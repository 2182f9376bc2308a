"""Each endpoint's success path, as a tester with curl would see it."""

import uuid
from datetime import datetime

import httpx

from tests.helpers import assert_error, create_todo, todo_url, todos_url


async def test_create_returns_201_with_location_and_the_todo(client: httpx.AsyncClient) -> None:
    response = await client.post(
        todos_url("alice"), json={"title": "Buy milk", "description": "2 litres"}
    )

    assert response.status_code == 201
    todo = response.json()
    assert response.headers["location"] == f"/api/v1/users/alice/todos/{todo['id']}"
    assert uuid.UUID(todo["id"])
    assert todo["user_id"] == "alice"
    assert todo["title"] == "Buy milk"
    assert todo["description"] == "2 litres"
    assert todo["is_completed"] is False
    assert todo["created_at"] == todo["updated_at"]
    assert todo["created_at"].endswith("Z")


async def test_create_trims_the_title_and_defaults_the_optional_fields(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="  Walk the dog \t")

    assert todo["title"] == "Walk the dog"
    assert todo["description"] is None
    assert todo["is_completed"] is False


async def test_create_accepts_is_completed(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", is_completed=True)

    assert todo["is_completed"] is True


async def test_location_percent_encodes_a_user_id_with_a_pipe(client: httpx.AsyncClient) -> None:
    response = await client.post(todos_url("auth0|abc"), json={"title": "x"})

    location = response.headers["location"]
    assert location.startswith("/api/v1/users/auth0%7Cabc/todos/")
    assert (await client.get(location)).json()["user_id"] == "auth0|abc"


async def test_get_returns_the_todo(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice", title="Read", description="a book")

    response = await client.get(todo_url("alice", created["id"]))

    assert response.status_code == 200
    assert response.json() == created


async def test_put_replaces_every_field(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice", title="Old", description="old")

    response = await client.put(
        todo_url("alice", created["id"]),
        json={"title": " New ", "description": None, "is_completed": True},
    )

    assert response.status_code == 200
    todo = response.json()
    assert (todo["title"], todo["description"], todo["is_completed"]) == ("New", None, True)
    assert todo["id"] == created["id"]
    assert todo["created_at"] == created["created_at"]


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice", title="Keep", description="change me")

    response = await client.patch(todo_url("alice", created["id"]), json={"description": "done"})

    assert response.status_code == 200
    todo = response.json()
    assert (todo["title"], todo["description"], todo["is_completed"]) == ("Keep", "done", False)


async def test_patch_with_null_description_clears_it(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice", description="something")

    response = await client.patch(todo_url("alice", created["id"]), json={"description": None})

    assert response.json()["description"] is None


async def test_patch_can_set_title_and_completion(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice")

    response = await client.patch(
        todo_url("alice", created["id"]), json={"title": "Renamed", "is_completed": True}
    )

    assert (response.json()["title"], response.json()["is_completed"]) == ("Renamed", True)


async def test_complete_toggles_is_completed_back_and_forth(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice")
    url = todo_url("alice", created["id"]) + "/complete"

    first = await client.patch(url)
    second = await client.patch(url)

    assert first.status_code == 200
    assert first.json()["is_completed"] is True
    assert second.json()["is_completed"] is False


async def test_delete_returns_204_and_the_todo_is_gone(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice")

    response = await client.delete(todo_url("alice", created["id"]))

    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(todo_url("alice", created["id"])), 404, "NOT_FOUND")
    assert_error(await client.delete(todo_url("alice", created["id"])), 404, "NOT_FOUND")


async def test_updated_at_moves_on_every_change_and_created_at_never(
    client: httpx.AsyncClient,
) -> None:
    created = await create_todo(client, "alice")
    url = todo_url("alice", created["id"])

    stamps = [created["updated_at"]]
    for response in [
        await client.patch(url, json={"title": "b"}),
        await client.put(url, json={"title": "c", "description": None, "is_completed": False}),
        await client.patch(url + "/complete"),
    ]:
        assert response.json()["created_at"] == created["created_at"]
        stamps.append(response.json()["updated_at"])

    times = [datetime.fromisoformat(stamp) for stamp in stamps]
    assert times == sorted(times)
    assert len(set(times)) == len(times)


async def test_empty_patch_changes_nothing_not_even_updated_at(client: httpx.AsyncClient) -> None:
    created = await create_todo(client, "alice", description="d")

    response = await client.patch(todo_url("alice", created["id"]), json={})

    assert response.status_code == 200
    assert response.json() == created
    assert (await client.get(todo_url("alice", created["id"]))).json() == created


async def test_list_returns_the_users_todos_newest_first(client: httpx.AsyncClient) -> None:
    titles = ["first", "second", "third"]
    for title in titles:
        await create_todo(client, "alice", title=title)

    response = await client.get(todos_url("alice"))

    assert response.status_code == 200
    page = response.json()
    assert [item["title"] for item in page["items"]] == titles[::-1]
    assert page["count"] == 3
    assert page["next_cursor"] is None


async def test_list_of_a_user_without_todos_is_empty(client: httpx.AsyncClient) -> None:
    response = await client.get(todos_url("nobody"))

    assert response.json() == {"items": [], "count": 0, "next_cursor": None}
