"""Listing: keyset pages, filters, search and ordering."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import (
    assert_validation_error,
    create_todo,
    most_pages,
    todos_url,
    walk_pages,
)


async def _walk(
    client: httpx.AsyncClient, user_id: str, created: int, **params: Any
) -> tuple[list[dict[str, Any]], list[int]]:
    """Follow next_cursor to the end, over no more pages than `created` todos can fill;
    return every item and each page's count."""
    items: list[dict[str, Any]] = []
    counts: list[int] = []
    max_pages = most_pages(created, params["limit"])
    async for page in walk_pages(client, user_id, max_pages=max_pages, **params):
        items += page["items"]
        counts.append(page["count"])
    return items, counts


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_walking_pages_visits_every_item_once_while_items_are_added(
    client: httpx.AsyncClient, order: str
) -> None:
    existing = [(await create_todo(client, "alice", title=f"t{i}"))["id"] for i in range(23)]
    seen: list[str] = []
    added = 0
    # A page of 5 takes in at most the one todo added after the page before it, so the
    # walk gets through at least 4 of the existing todos a page.
    max_pages = most_pages(len(existing), 5 - 1)
    async for page in walk_pages(client, "alice", max_pages=max_pages, limit=5, order=order):
        seen += [item["id"] for item in page["items"]]
        await create_todo(client, "alice", title=f"added while paging {added}")
        added += 1

    from_before = [todo_id for todo_id in seen if todo_id in existing]
    assert len(seen) == len(set(seen))
    assert sorted(from_before) == sorted(existing)


async def test_pages_come_in_order_and_count_covers_all_pages(client: httpx.AsyncClient) -> None:
    created = [await create_todo(client, "alice", title=f"t{i}") for i in range(7)]

    newest_first, counts = await _walk(client, "alice", len(created), limit=3)
    oldest_first, _ = await _walk(client, "alice", len(created), limit=3, order="asc")

    assert [t["id"] for t in newest_first] == [t["id"] for t in reversed(created)]
    assert [t["id"] for t in oldest_first] == [t["id"] for t in created]
    assert counts == [7, 7, 7]


async def test_items_created_in_the_same_instant_are_all_listed(
    client: httpx.AsyncClient,
) -> None:
    await asyncio.gather(*(create_todo(client, "alice", title=f"c{i}") for i in range(12)))

    items, _ = await _walk(client, "alice", 12, limit=4)

    assert len({item["id"] for item in items}) == 12


async def test_limit_bounds_the_page_size(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_todo(client, "alice", title=f"t{i}")

    one = (await client.get(todos_url("alice"), params={"limit": 1})).json()
    thousand = (await client.get(todos_url("alice"), params={"limit": 1000})).json()

    assert len(one["items"]) == 1
    assert one["next_cursor"] is not None
    assert len(thousand["items"]) == 3


async def test_default_page_size_is_100(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    async with admin_engine.connect() as connection:
        await connection.execute(
            text(
                "INSERT INTO todos (user_id, title) "
                "SELECT 'alice', 'bulk ' || n FROM generate_series(1, 101) AS n"
            )
        )

    page = (await client.get(todos_url("alice"))).json()

    assert len(page["items"]) == 100
    assert page["count"] == 101
    assert page["next_cursor"] is not None


async def test_is_completed_filters_and_counts(client: httpx.AsyncClient) -> None:
    await create_todo(client, "alice", title="open")
    await create_todo(client, "alice", title="done", is_completed=True)

    done = (await client.get(todos_url("alice"), params={"is_completed": "true"})).json()
    still_open = (await client.get(todos_url("alice"), params={"is_completed": "false"})).json()

    assert [i["title"] for i in done["items"]] == ["done"]
    assert done["count"] == 1
    assert [i["title"] for i in still_open["items"]] == ["open"]


async def test_search_is_case_insensitive_over_title_and_description(
    client: httpx.AsyncClient,
) -> None:
    await create_todo(client, "alice", title="Buy MILK")
    await create_todo(client, "alice", title="other", description="milkshake recipe")
    await create_todo(client, "alice", title="unrelated")

    page = (await client.get(todos_url("alice"), params={"q": "milk"})).json()

    assert sorted(i["title"] for i in page["items"]) == ["Buy MILK", "other"]
    assert page["count"] == 2


@pytest.mark.parametrize(
    ("q", "expected"),
    [("%", ["100% done"]), ("_", ["snake_case"]), ("\\", ["back\\slash"]), ("0%", ["100% done"])],
)
async def test_search_wildcards_match_literally(
    client: httpx.AsyncClient, q: str, expected: list[str]
) -> None:
    for title in ("100% done", "snake_case", "back\\slash", "plain"):
        await create_todo(client, "alice", title=title)

    page = (await client.get(todos_url("alice"), params={"q": q})).json()

    assert [i["title"] for i in page["items"]] == expected


async def test_filters_combine_with_paging(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create_todo(client, "alice", title=f"report {i}", is_completed=i % 2 == 0)
    await create_todo(client, "alice", title="other", is_completed=True)

    items, counts = await _walk(client, "alice", 6, limit=2, q="report", is_completed="true")

    assert sorted(i["title"] for i in items) == ["report 0", "report 2", "report 4"]
    assert set(counts) == {3}


async def test_a_cursor_cannot_be_used_with_the_other_order(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_todo(client, "alice", title=f"t{i}")
    cursor = (await client.get(todos_url("alice"), params={"limit": 1})).json()["next_cursor"]

    response = await client.get(todos_url("alice"), params={"cursor": cursor, "order": "asc"})

    assert_validation_error(response, "query.cursor")
