"""Bulk changes: a create of many that is all or nothing, and a PATCH or DELETE of every
todo a set of filters matches, never anyone else's."""

from typing import Any

import httpx
import pytest

from tests.helpers import assert_validation_error, create_todo, todo_url, todos_url


def _bulk_url(user_id: str) -> str:
    return f"{todos_url(user_id)}/bulk"


async def _all(client: httpx.AsyncClient, user_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await client.get(todos_url(user_id), params={"limit": 1000})
    ).json()["items"]
    return items


async def test_a_bulk_create_returns_the_todos_in_the_order_sent(client: httpx.AsyncClient) -> None:
    sent = [
        {"title": f"t{i}", "priority": ["low", "high"][i % 2], "tags": [f"n{i}"]} for i in range(30)
    ]

    response = await client.post(_bulk_url("alice"), json={"todos": sent})

    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(t["title"], t["priority"], t["tags"]) for t in items] == [
        (s["title"], s["priority"], s["tags"]) for s in sent
    ]
    assert len({t["id"] for t in items}) == 30
    assert {t["id"] for t in await _all(client, "alice")} == {t["id"] for t in items}
    fetched = (await client.get(todo_url("alice", items[7]["id"]))).json()
    assert fetched == items[7]


async def test_a_bulk_create_sets_completed_at_for_the_completed_ones(
    client: httpx.AsyncClient,
) -> None:
    items = (
        await client.post(
            _bulk_url("alice"),
            json={"todos": [{"title": "a", "is_completed": True}, {"title": "b"}]},
        )
    ).json()["items"]

    assert items[0]["completed_at"] == items[0]["created_at"]
    assert items[1]["completed_at"] is None


@pytest.mark.parametrize(
    ("todos", "field"),
    [
        pytest.param(
            [{"title": "ok"}] * 3 + [{"title": " "}], "body.todos.3.title", id="blank-title"
        ),
        pytest.param(
            [{"title": "ok"}, {"title": "x", "priority": "urgent"}],
            "body.todos.1.priority",
            id="bad-priority",
        ),
        pytest.param([{"title": "ok"}] * 101, "body.todos", id="101-items"),
        pytest.param([], "body.todos", id="no-items"),
        pytest.param([{"title": "ok", "colour": "red"}], "body.todos.0.colour", id="unknown-field"),
    ],
)
async def test_a_bad_bulk_create_is_a_422_pointing_at_the_item_and_creates_none(
    client: httpx.AsyncClient, todos: list[dict[str, Any]], field: str
) -> None:
    response = await client.post(_bulk_url("alice"), json={"todos": todos})

    assert_validation_error(response, field)
    assert await _all(client, "alice") == []


async def test_bulk_patch_changes_every_match_and_counts_only_real_changes(
    client: httpx.AsyncClient,
) -> None:
    work = [await create_todo(client, "alice", title=f"w{i}", tags=["work"]) for i in range(3)]
    done = await create_todo(client, "alice", title="done", tags=["Work"], is_completed=True)
    home = await create_todo(client, "alice", title="home", tags=["home"])
    bobs = await create_todo(client, "bob", title="bob's", tags=["work"])

    response = await client.patch(
        todos_url("alice"), params={"tag": "work"}, json={"is_completed": True}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"updated": 3}, "the one already done is not counted"
    after = {t["id"]: t for t in await _all(client, "alice")}
    assert all(after[t["id"]]["is_completed"] for t in work)
    assert all(after[t["id"]]["completed_at"] == after[t["id"]]["updated_at"] for t in work)
    assert after[done["id"]] == done, "unchanged, updated_at included"
    assert after[home["id"]] == home
    assert (await client.get(todo_url("bob", bobs["id"]))).json() == bobs


async def test_bulk_patch_raises_priority_and_replaces_tags(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_todo(client, "alice", title=f"t{i}", tags=["work"], priority="low")

    raised = await client.patch(
        todos_url("alice"), params={"tag": "work"}, json={"priority": "high", "tags": ["urgent"]}
    )

    assert raised.json() == {"updated": 3}
    assert {(t["priority"], tuple(t["tags"])) for t in await _all(client, "alice")} == {
        ("high", ("urgent",))
    }


async def test_a_bulk_patch_may_filter_on_the_field_it_changes(client: httpx.AsyncClient) -> None:
    for completed in (True, False, True):
        await create_todo(client, "alice", title="t", is_completed=completed)

    reopened = await client.patch(
        todos_url("alice"), params={"is_completed": "true"}, json={"is_completed": False}
    )

    assert reopened.json() == {"updated": 2}
    assert not any(t["is_completed"] for t in await _all(client, "alice"))


async def test_bulk_patch_without_filters_changes_all_of_the_users_todos(
    client: httpx.AsyncClient,
) -> None:
    for i in range(3):
        await create_todo(client, "alice", title=f"t{i}")
    bobs = await create_todo(client, "bob", title="b")

    assert (await client.patch(todos_url("alice"), json={"is_completed": True})).json() == {
        "updated": 3
    }
    assert (await client.get(todo_url("bob", bobs["id"]))).json()["is_completed"] is False


@pytest.mark.parametrize(
    ("params", "body", "field"),
    [
        pytest.param({}, {}, "body", id="empty-body"),
        pytest.param({}, {"title": "x"}, "body.title", id="title-is-not-a-bulk-field"),
        pytest.param(
            {"prority": "high"}, {"is_completed": True}, "query.prority", id="misspelt-filter"
        ),
        pytest.param({"limit": "5"}, {"is_completed": True}, "query.limit", id="not-a-filter"),
        pytest.param({}, {"priority": "urgent"}, "body.priority", id="bad-value"),
    ],
)
async def test_a_bad_bulk_patch_is_a_422_that_changes_nothing(
    client: httpx.AsyncClient, params: dict[str, str], body: dict[str, Any], field: str
) -> None:
    todo = await create_todo(client, "alice", title="t")

    response = await client.patch(todos_url("alice"), params=params, json=body)

    assert_validation_error(response, field)
    assert await _all(client, "alice") == [todo]


async def test_bulk_delete_clears_the_completed_ones_only(client: httpx.AsyncClient) -> None:
    kept = [await create_todo(client, "alice", title=f"open {i}") for i in range(2)]
    for i in range(3):
        await create_todo(client, "alice", title=f"done {i}", is_completed=True)
    bobs = await create_todo(client, "bob", title="b", is_completed=True)

    response = await client.delete(todos_url("alice"), params={"is_completed": "true"})

    assert response.status_code == 200, response.text
    assert response.json() == {"deleted": 3}
    assert await _all(client, "alice") == list(reversed(kept))
    assert (await client.get(todo_url("bob", bobs["id"]))).status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({}, "query", id="no-filter"),
        pytest.param({"q": ""}, "query", id="an-empty-search-is-no-filter"),
        pytest.param({"is_complete": "true"}, "query.is_complete", id="misspelt-filter"),
    ],
)
async def test_a_bulk_delete_without_a_real_filter_is_a_422_that_deletes_nothing(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    await create_todo(client, "alice", title="t", is_completed=True)

    response = await client.delete(todos_url("alice"), params=params)

    body = assert_validation_error(response, field)
    assert body["field_errors"][0]["message"]
    assert len(await _all(client, "alice")) == 1
