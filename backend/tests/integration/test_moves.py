"""The manual order: moving todos between neighbours, to the end and across lists; the
worst case of many moves into one gap; and concurrent moves, which must never share a
place or make two reads disagree."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import assert_error, assert_validation_error, create_todo, todo_url, todos_url
from tests.integration.test_lists import create_list


async def move(
    client: httpx.AsyncClient, user_id: str, todo_id: str, **place: Any
) -> httpx.Response:
    return await client.post(f"{todo_url(user_id, todo_id)}/move", json=place)


async def order(client: httpx.AsyncClient, user_id: str, list_id: str | None) -> list[str]:
    """The ids of one list (None: no list) in its manual order, every page followed."""
    ids: list[str] = []
    params: dict[str, Any] = {"sort": "position", "list_id": list_id or "none", "limit": 7}
    for _ in range(1000):
        page = (await client.get(todos_url(user_id), params=params)).json()
        ids += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]
    raise AssertionError("the cursor does not advance")


async def _todos(client: httpx.AsyncClient, user_id: str, count: int, **fields: Any) -> list[str]:
    return [
        (await create_todo(client, user_id, title=f"t{index}", **fields))["id"]
        for index in range(count)
    ]


async def test_new_todos_go_to_the_end_of_their_list(client: httpx.AsyncClient) -> None:
    work = await create_list(client, "alice", "Work")
    listed = await _todos(client, "alice", 3, list_id=work["id"])
    unlisted = await _todos(client, "alice", 2)
    bulk = await client.post(
        f"{todos_url('alice')}/bulk",
        json={
            "todos": [
                {"title": "b1", "list_id": work["id"]},
                {"title": "b2", "list_id": work["id"]},
            ]
        },
    )

    assert await order(client, "alice", work["id"]) == listed + [
        item["id"] for item in bulk.json()["items"]
    ]
    assert await order(client, "alice", None) == unlisted


async def test_after_before_both_and_neither(client: httpx.AsyncClient) -> None:
    a, b, c, d = await _todos(client, "alice", 4)

    after = await move(client, "alice", d, after=a)
    assert after.status_code == 200, after.text
    assert await order(client, "alice", None) == [a, d, b, c]
    assert (await move(client, "alice", a, before=c)).status_code == 200
    assert await order(client, "alice", None) == [d, b, a, c]
    assert (await move(client, "alice", c, after=d, before=b)).status_code == 200
    assert await order(client, "alice", None) == [d, c, b, a]
    assert (await move(client, "alice", d)).status_code == 200  # neither: the end
    assert await order(client, "alice", None) == [c, b, a, d]
    assert (await move(client, "alice", d, before=c)).status_code == 200  # before the first
    assert await order(client, "alice", None) == [d, c, b, a]
    assert (await move(client, "alice", d, after=a)).status_code == 200  # after the last
    assert await order(client, "alice", None) == [c, b, a, d]


async def test_a_move_returns_the_todo_with_its_new_list_and_updated_at(
    client: httpx.AsyncClient,
) -> None:
    work = await create_list(client, "alice", "Work")
    (first,) = await _todos(client, "alice", 1, list_id=work["id"])
    todo = await create_todo(client, "alice")

    moved = await move(client, "alice", todo["id"], list_id=work["id"], before=first)

    assert moved.status_code == 200
    assert moved.json()["list_id"] == work["id"]
    assert moved.json()["updated_at"] > todo["updated_at"]
    assert {key: moved.json()[key] for key in ("title", "created_at", "id")} == {
        key: todo[key] for key in ("title", "created_at", "id")
    }
    assert await order(client, "alice", work["id"]) == [todo["id"], first]
    assert await order(client, "alice", None) == []
    # Left out, list_id is the list it is in; null is no list.
    assert (await move(client, "alice", todo["id"], after=first)).json()["list_id"] == work["id"]
    assert await order(client, "alice", work["id"]) == [first, todo["id"]]
    assert (await move(client, "alice", todo["id"], list_id=None)).json()["list_id"] is None
    counts = (await client.get(f"/api/v1/users/alice/lists/{work['id']}")).json()
    assert counts["todo_count"] == 1


async def test_a_move_that_cannot_be_made_is_a_422_or_404_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    work = await create_list(client, "alice", "Work")
    bobs_list = await create_list(client, "bob", "Bob's")
    in_work = (await create_todo(client, "alice", list_id=work["id"]))["id"]
    a, b, c = await _todos(client, "alice", 3)
    (bobs_todo,) = await _todos(client, "bob", 1)
    before = await order(client, "alice", None)

    cases = [
        (move(client, "alice", a, after=in_work), "body.after"),  # in another list
        (move(client, "alice", a, before=in_work), "body.before"),
        (move(client, "alice", a, after=bobs_todo), "body.after"),  # another user's
        (move(client, "alice", a, after=str(uuid.uuid4())), "body.after"),  # nobody's
        (move(client, "alice", a, after=a), "body.after"),  # itself
        (move(client, "alice", a, after=b, before=b), "body"),  # not neighbours
        (move(client, "alice", b, after=c, before=a), "body"),  # the wrong way round
        (move(client, "alice", a, list_id=bobs_list["id"]), "body.list_id"),
        (move(client, "alice", a, list_id=str(uuid.uuid4())), "body.list_id"),
        (move(client, "alice", a, position=3), "body.position"),
        (move(client, "alice", a, after="not-a-uuid"), "body.after"),
    ]
    for response, field in cases:
        assert_validation_error(await response, field)
    for todo_id in (bobs_todo, str(uuid.uuid4())):
        assert_error(await move(client, "alice", todo_id), 404, "NOT_FOUND")
    assert await order(client, "alice", None) == before
    assert await order(client, "bob", None) == [bobs_todo]


async def test_sort_position_needs_a_list(client: httpx.AsyncClient) -> None:
    response = await client.get(todos_url("alice"), params={"sort": "position"})

    body = assert_validation_error(response, "query.sort")
    assert "list_id" in body["field_errors"][0]["message"]


async def _positions(engine: AsyncEngine, user_id: str) -> list[int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT position FROM todos WHERE user_id = :u AND list_id IS NULL"),
            {"u": user_id},
        )
        return [row.position for row in rows]


async def test_a_thousand_moves_into_one_gap_keep_a_valid_order_seen_whole_by_every_read(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    """Each move goes just after the first todo: the gap halves every time, so the list is
    respaced every few dozen moves. A reader running meanwhile only ever sees an order that
    existed between two moves, never a half-respaced list."""
    ids = await _todos(client, "alice", 12)
    model = list(ids)
    history = {tuple(model)}
    done = asyncio.Event()
    reads: list[tuple[str, ...]] = []

    async def read_meanwhile() -> None:
        while not done.is_set():
            page = (
                await client.get(todos_url("alice"), params={"sort": "position", "list_id": "none"})
            ).json()
            reads.append(tuple(item["id"] for item in page["items"]))
            await asyncio.sleep(0)

    reader = asyncio.create_task(read_meanwhile())
    try:
        for step in range(1000):
            moved = model[-1 - step % (len(model) - 1)]
            response = await move(client, "alice", moved, after=model[0])
            assert response.status_code == 200, response.text
            model.remove(moved)
            model.insert(1, moved)
            history.add(tuple(model))
    finally:
        done.set()
        await reader

    assert await order(client, "alice", None) == model
    assert await order(client, "alice", None) == model  # and again: stable
    assert reads, "the reader ran"
    assert all(read in history for read in reads), "a read saw an order no move made"
    positions = await _positions(admin_engine, "alice")
    assert len(set(positions)) == len(ids)
    # Respaced as it went: the list still spans little more than its length in gaps.
    assert max(positions) - min(positions) <= 2**24 * (len(ids) + 1)


async def test_concurrent_moves_into_one_gap_all_land_there_each_in_a_place_of_its_own(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    first, *movers, last = await _todos(client, "alice", 22)

    responses = await asyncio.gather(
        *(move(client, "alice", todo_id, after=first) for todo_id in movers)
    )

    assert [response.status_code for response in responses] == [200] * len(movers)
    final = await order(client, "alice", None)
    assert final[0] == first
    assert final[-1] == last
    assert sorted(final[1:-1]) == sorted(movers)
    assert await order(client, "alice", None) == final
    assert len(set(await _positions(admin_engine, "alice"))) == 22


async def test_concurrent_moves_into_one_list_from_both_ends_keep_every_todo_once(
    client: httpx.AsyncClient,
) -> None:
    work = await create_list(client, "alice", "Work")
    anchors = await _todos(client, "alice", 2, list_id=work["id"])
    incoming = await _todos(client, "alice", 16)

    await asyncio.gather(
        *(
            move(
                client,
                "alice",
                todo_id,
                list_id=work["id"],
                **({"after": anchors[0]} if index % 2 else {"before": anchors[1]}),
            )
            for index, todo_id in enumerate(incoming)
        ),
        *(create_todo(client, "alice", list_id=work["id"]) for _ in range(4)),
    )

    final = await order(client, "alice", work["id"])
    assert len(final) == len(set(final)) == 22
    assert final[0] == anchors[0]
    assert final.index(anchors[1]) == 17  # every mover between the two, the new ones after
    assert await order(client, "alice", None) == []


@pytest.mark.parametrize("user", ["alice", "bob"])
async def test_positions_page_with_cursors_bound_to_the_list(
    client: httpx.AsyncClient, user: str
) -> None:
    work = await create_list(client, user, "Work")
    ids = await _todos(client, user, 9, list_id=work["id"])
    first = (
        await client.get(
            todos_url(user), params={"sort": "position", "list_id": work["id"], "limit": 2}
        )
    ).json()

    other_list = await client.get(
        todos_url(user),
        params={"sort": "position", "list_id": "none", "cursor": first["next_cursor"]},
    )

    assert await order(client, user, work["id"]) == ids
    assert_validation_error(other_list, "query.cursor")
