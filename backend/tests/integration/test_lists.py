"""Lists: CRUD with counts, names unique per user in any case, deleting a list that still
holds todos, todos put in lists, and ownership that the database itself enforces."""

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import (
    API,
    assert_error,
    assert_validation_error,
    create_todo,
    todo_url,
    todos_url,
)


def lists_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/lists"


def list_url(user_id: str, list_id: str) -> str:
    return f"{lists_url(user_id)}/{list_id}"


async def create_list(client: httpx.AsyncClient, user_id: str, name: str) -> dict[str, Any]:
    response = await client.post(lists_url(user_id), json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_returns_201_with_location_and_an_empty_list(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(lists_url("alice"), json={"name": "  Groceries \u200b"})

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/users/alice/lists/{created['id']}"
    assert created["name"] == "Groceries \u200b".strip(" ")  # trimmed white space only
    assert created["user_id"] == "alice"
    assert created["todo_count"] == 0
    assert created["open_count"] == 0
    assert created["created_at"] == created["updated_at"]
    fetched = await client.get(response.headers["location"])
    assert fetched.json() == created


async def test_names_are_unique_per_user_without_regard_to_case(
    client: httpx.AsyncClient,
) -> None:
    await create_list(client, "alice", "Groceries")

    duplicate = await client.post(lists_url("alice"), json={"name": "GROCERIES"})
    composed = await client.post(lists_url("alice"), json={"name": "Cafe\u0301"})
    precomposed = await client.post(lists_url("alice"), json={"name": "Café"})

    assert_error(duplicate, 409, "CONFLICT")
    assert composed.status_code == 201
    assert_error(precomposed, 409, "CONFLICT")  # NFC: the same name
    assert (await create_list(client, "bob", "groceries"))["name"] == "groceries"
    assert (await client.get(lists_url("alice"))).json()["count"] == 2


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\u200b\ufeff", "x" * 101, "nul\x00", None, 5],
    ids=["empty", "blank", "invisible", "101 chars", "nul", "null", "number"],
)
async def test_a_bad_name_is_a_422_naming_it_and_creates_nothing(
    client: httpx.AsyncClient, name: object
) -> None:
    response = await client.post(lists_url("alice"), json={"name": name})

    assert_validation_error(response, "body.name")
    assert (await client.get(lists_url("alice"))).json()["count"] == 0


async def test_counts_follow_the_todos_in_the_list(client: httpx.AsyncClient) -> None:
    groceries = await create_list(client, "alice", "Groceries")
    work = await create_list(client, "alice", "Work")
    for index in range(3):
        await create_todo(
            client, "alice", list_id=groceries["id"], is_completed=index == 0, title=f"g{index}"
        )
    await create_todo(client, "alice", list_id=work["id"])
    await create_todo(client, "alice")

    page = (await client.get(lists_url("alice"))).json()

    assert [(item["name"], item["todo_count"], item["open_count"]) for item in page["items"]] == [
        ("Groceries", 3, 2),
        ("Work", 1, 1),
    ]
    one = (await client.get(list_url("alice", groceries["id"]))).json()
    assert (one["todo_count"], one["open_count"]) == (3, 2)


async def test_lists_page_oldest_first_with_cursors(client: httpx.AsyncClient) -> None:
    names = [f"list {index}" for index in range(7)]
    for name in names:
        await create_list(client, "alice", name)
    await create_list(client, "bob", "not alice's")

    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(lists_url("alice"), params=params)).json()
        assert page["count"] == 7
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == names
    assert cursor is None
    # A cursor of alice's lists is not bob's.
    first = (await client.get(lists_url("alice"), params={"limit": 1})).json()
    other = await client.get(lists_url("bob"), params={"cursor": first["next_cursor"]})
    assert_validation_error(other, "query.cursor")


async def test_rename_changes_the_name_and_updated_at(client: httpx.AsyncClient) -> None:
    created = await create_list(client, "alice", "Groceries")
    other = await create_list(client, "alice", "Work")

    renamed = await client.patch(list_url("alice", created["id"]), json={"name": "Shopping"})
    recased = await client.patch(list_url("alice", created["id"]), json={"name": "SHOPPING"})
    taken = await client.patch(list_url("alice", other["id"]), json={"name": "shopping"})
    empty = await client.patch(list_url("alice", other["id"]), json={})

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Shopping"
    assert renamed.json()["updated_at"] > created["updated_at"]
    assert recased.json()["name"] == "SHOPPING"  # its own name, in another case
    assert_error(taken, 409, "CONFLICT")
    assert empty.json() == other
    extra = await client.patch(list_url("alice", other["id"]), json={"nmae": "typo"})
    assert_validation_error(extra, "body.nmae")


async def test_another_users_list_is_404_like_a_missing_one(client: httpx.AsyncClient) -> None:
    alices = await create_list(client, "alice", "Groceries")
    missing = str(uuid.uuid4())

    for list_id in (alices["id"], missing):
        for method, body in (("GET", None), ("PATCH", {"name": "mine"}), ("DELETE", None)):
            response = await client.request(method, list_url("bob", list_id), json=body)
            assert_error(response, 404, "NOT_FOUND")
            assert response.json()["detail"] == "List not found."
    assert (await client.get(list_url("alice", alices["id"]))).json() == alices


async def test_deleting_a_list_with_todos_needs_to_be_told_what_becomes_of_them(
    client: httpx.AsyncClient,
) -> None:
    full = await create_list(client, "alice", "Full")
    todo = await create_todo(client, "alice", list_id=full["id"])

    refused = await client.delete(list_url("alice", full["id"]))
    bogus = await client.delete(list_url("alice", full["id"]), params={"todos": "archive"})

    assert_error(refused, 409, "LIST_NOT_EMPTY")
    assert "?todos=delete" in refused.json()["detail"]
    assert_validation_error(bogus, "query.todos")
    assert (await client.get(todo_url("alice", todo["id"]))).json()["list_id"] == full["id"]
    empty = await create_list(client, "alice", "Empty")
    assert (await client.delete(list_url("alice", empty["id"]))).status_code == 204
    assert (await client.get(list_url("alice", empty["id"]))).status_code == 404


async def test_deleting_with_todos_delete_removes_them_and_only_them(
    client: httpx.AsyncClient,
) -> None:
    doomed = await create_list(client, "alice", "Doomed")
    kept = await create_list(client, "alice", "Kept")
    inside = [await create_todo(client, "alice", list_id=doomed["id"]) for _ in range(3)]
    outside = await create_todo(client, "alice", list_id=kept["id"])
    unlisted = await create_todo(client, "alice")

    response = await client.delete(list_url("alice", doomed["id"]), params={"todos": "delete"})

    assert response.status_code == 204
    for todo in inside:
        assert (await client.get(todo_url("alice", todo["id"]))).status_code == 404
    for todo in (outside, unlisted):
        assert (await client.get(todo_url("alice", todo["id"]))).status_code == 200


async def test_deleting_with_todos_unlist_keeps_them_in_no_list_at_its_end(
    client: httpx.AsyncClient,
) -> None:
    doomed = await create_list(client, "alice", "Doomed")
    already_unlisted = await create_todo(client, "alice", title="first")
    inside = await create_todo(client, "alice", list_id=doomed["id"], title="from the list")

    response = await client.delete(list_url("alice", doomed["id"]), params={"todos": "unlist"})

    assert response.status_code == 204
    kept = (await client.get(todo_url("alice", inside["id"]))).json()
    assert kept["list_id"] is None
    assert kept["updated_at"] > inside["updated_at"]
    order = (
        await client.get(todos_url("alice"), params={"list_id": "none", "sort": "position"})
    ).json()["items"]
    assert [item["id"] for item in order] == [already_unlisted["id"], inside["id"]]


async def test_a_todo_may_only_be_put_in_one_of_its_users_lists(
    client: httpx.AsyncClient,
) -> None:
    alices = await create_list(client, "alice", "Groceries")
    bobs = await create_list(client, "bob", "Groceries")
    todo = await create_todo(client, "alice", list_id=alices["id"])

    answers = []
    for foreign in (bobs["id"], str(uuid.uuid4())):  # someone else's, and nobody's
        answers += [
            await client.post(todos_url("alice"), json={"title": "x", "list_id": foreign}),
            await client.patch(todo_url("alice", todo["id"]), json={"list_id": foreign}),
            await client.put(
                todo_url("alice", todo["id"]),
                json={"title": "x", "description": None, "is_completed": False, "list_id": foreign},
            ),
        ]
    bulk = await client.post(
        f"{todos_url('alice')}/bulk",
        json={
            "todos": [
                {"title": "ok", "list_id": alices["id"]},
                {"title": "no", "list_id": bobs["id"]},
            ]
        },
    )

    for response in answers:
        assert_validation_error(response, "body.list_id")
    # The same words whether the list is someone else's or nobody's.
    assert len({response.text for response in answers[::3]}) == 1
    assert_validation_error(bulk, "body.todos.1.list_id")
    listing = (await client.get(todos_url("alice"))).json()
    assert [item["id"] for item in listing["items"]] == [todo["id"]]
    assert listing["items"][0]["list_id"] == alices["id"]
    assert (await client.get(list_url("bob", bobs["id"]))).json()["todo_count"] == 0


async def test_list_id_is_set_on_create_put_patch_and_bulk_and_filters_the_listing(
    client: httpx.AsyncClient,
) -> None:
    groceries = await create_list(client, "alice", "Groceries")
    in_list = await create_todo(client, "alice", list_id=groceries["id"])
    moved = await create_todo(client, "alice")
    await client.patch(todo_url("alice", moved["id"]), json={"list_id": groceries["id"]})
    put = await create_todo(client, "alice")
    replaced = await client.put(
        todo_url("alice", put["id"]),
        json={"title": "t", "description": None, "is_completed": False, "list_id": groceries["id"]},
    )
    bulk = await client.post(
        f"{todos_url('alice')}/bulk", json={"todos": [{"title": "b", "list_id": groceries["id"]}]}
    )
    none = await create_todo(client, "alice")
    unchanged = await client.put(
        todo_url("alice", in_list["id"]),
        json={"title": "kept in its list", "description": None, "is_completed": False},
    )

    assert replaced.json()["list_id"] == groceries["id"]
    assert unchanged.json()["list_id"] == groceries["id"]  # a PUT without list_id keeps it
    listed = (await client.get(todos_url("alice"), params={"list_id": groceries["id"]})).json()
    expected = {in_list["id"], moved["id"], put["id"], bulk.json()["items"][0]["id"]}
    assert {item["id"] for item in listed["items"]} == expected
    assert listed["count"] == 4
    unlisted = (await client.get(todos_url("alice"), params={"list_id": "none"})).json()
    assert [item["id"] for item in unlisted["items"]] == [none["id"]]
    bad = await client.get(todos_url("alice"), params={"list_id": "nope"})
    assert_validation_error(bad, "query.list_id")


async def test_stats_count_by_list_and_take_the_list_filter(client: httpx.AsyncClient) -> None:
    groceries = await create_list(client, "alice", "Groceries")
    for index in range(3):
        await create_todo(client, "alice", list_id=groceries["id"], is_completed=index == 0)
    await create_todo(client, "alice")

    stats = (await client.get(f"{todos_url('alice')}/stats")).json()
    filtered = (
        await client.get(f"{todos_url('alice')}/stats", params={"list_id": groceries["id"]})
    ).json()

    assert stats["by_list"] == [
        {"list_id": groceries["id"], "open": 2, "total": 3},
        {"list_id": None, "open": 1, "total": 1},
    ]
    assert filtered["total"] == 3
    assert filtered["by_list"] == [{"list_id": groceries["id"], "open": 2, "total": 3}]


async def test_the_database_refuses_a_todo_in_another_users_list(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    """Whatever the service code does: a row linking across users cannot exist, even
    written by hand."""
    bobs = await create_list(client, "bob", "Bob's")

    with pytest.raises(IntegrityError, match="fk_todos_user_id_list_id_lists"):
        async with admin_engine.connect() as connection:
            await connection.execute(
                sa.text("INSERT INTO todos (user_id, title, list_id) VALUES ('alice', 'x', :l)"),
                {"l": bobs["id"]},
            )
    todo = await create_todo(client, "alice")
    with pytest.raises(IntegrityError, match="fk_todos_user_id_list_id_lists"):
        async with admin_engine.connect() as connection:
            await connection.execute(
                sa.text("UPDATE todos SET list_id = :l WHERE user_id = 'alice' AND id = :t"),
                {"l": bobs["id"], "t": todo["id"]},
            )
    # Nor can a list be taken from under its todos, even by another user's delete.
    await create_todo(client, "bob", list_id=bobs["id"])
    with pytest.raises(IntegrityError, match="fk_todos_user_id_list_id_lists"):
        async with admin_engine.connect() as connection:
            await connection.execute(sa.text("DELETE FROM lists WHERE id = :l"), {"l": bobs["id"]})
