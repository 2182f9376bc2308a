"""The listing's sorts and planning filters: the order of every sort, keyset walks that
visit every todo once, and cursors bound to the listing they came from."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.helpers import assert_validation_error, create_todo, most_pages, todos_url, walk_pages
from todo_api.models.todos import Sort
from todo_api.services.cursor import Cursor
from todo_api.services.todo_filters import TodoFilters
from todo_api.services.todo_listing import listing_binding

PRIORITIES = ["none", "low", "medium", "high"]
# Few distinct values, so every sort has ties to break, and some todos have no due date.
DUE_DATES = [None, "2026-03-01T00:00:00Z", "2026-01-01T00:00:00Z", None, "2026-03-01T00:00:00Z"]
FAR_PAST = datetime(1, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expected_order(todos: list[dict[str, Any]], sort: str) -> list[str]:
    """The ids in the order the API documents for `sort`, computed independently."""
    key = sort.removeprefix("-")
    descending = sort.startswith("-")
    if key == "position":  # todos created one after the other: in the order they were made
        return [t["id"] for t in sorted(todos, key=lambda t: _moment(t["created_at"]))]
    if key == "created_at":
        ordered = sorted(
            todos, key=lambda t: (_moment(t["created_at"]), t["id"]), reverse=descending
        )
        return [t["id"] for t in ordered]
    # Ties: newest created_at, then the larger id. Sorting is stable, so sort by the
    # tie-breakers first, then by the key.
    ordered = sorted(todos, key=lambda t: (_moment(t["created_at"]), t["id"]), reverse=True)
    if key == "priority":
        return [
            t["id"]
            for t in sorted(
                ordered, key=lambda t: PRIORITIES.index(t["priority"]), reverse=descending
            )
        ]
    if key == "due_at":
        dated = [t for t in ordered if t["due_at"] is not None]
        undated = [t for t in ordered if t["due_at"] is None]
        dated = sorted(dated, key=lambda t: _moment(t["due_at"]), reverse=descending)
        return [t["id"] for t in dated + undated]
    return [t["id"] for t in sorted(ordered, key=lambda t: _moment(t[key]), reverse=descending)]


def _one_list(sort: str) -> dict[str, str]:
    """`position` orders one list: here, the todos in no list, which are all of them."""
    return {"list_id": "none"} if sort == Sort.POSITION else {}


async def _seed(client: httpx.AsyncClient, user_id: str, count: int) -> list[dict[str, Any]]:
    todos = []
    for i in range(count):
        todo = await create_todo(
            client,
            user_id,
            title=f"t{i}",
            priority=PRIORITIES[i * 7 % 4 if i % 3 else 0],
            due_at=DUE_DATES[i % len(DUE_DATES)],
            tags=["Work"] if i % 2 else ["home", "errands"],
            is_completed=i % 4 == 0,
        )
        todos.append(todo)
    # Touch some, so updated_at differs from created_at's order.
    for todo in todos[::3]:
        await client.patch(f"{todos_url(user_id)}/{todo['id']}", json={"title": "touched"})
    return (await client.get(todos_url(user_id), params={"limit": 1000})).json()["items"]


async def _walk(client: httpx.AsyncClient, user_id: str, count: int, **params: Any) -> list[str]:
    ids: list[str] = []
    async for page in walk_pages(
        client, user_id, max_pages=most_pages(count, params["limit"]), **params
    ):
        ids += [item["id"] for item in page["items"]]
        assert page["count"] == count
    return ids


@pytest.mark.parametrize("sort", [sort.value for sort in Sort])
async def test_every_sort_pages_through_every_todo_in_its_documented_order(
    client: httpx.AsyncClient, sort: str
) -> None:
    todos = await _seed(client, "alice", 14)

    walked = await _walk(client, "alice", len(todos), limit=3, sort=sort, **_one_list(sort))

    assert walked == expected_order(todos, sort)


@pytest.mark.parametrize("sort", [sort.value for sort in Sort])
async def test_a_walk_in_any_sort_sees_each_existing_todo_once_while_todos_are_added(
    client: httpx.AsyncClient, sort: str
) -> None:
    existing = {todo["id"] for todo in await _seed(client, "alice", 12)}
    seen: list[str] = []
    added = 0
    async for page in walk_pages(
        client,
        "alice",
        max_pages=most_pages(len(existing), 3 - 1),
        limit=3,
        sort=sort,
        **_one_list(sort),
    ):
        seen += [item["id"] for item in page["items"]]
        await create_todo(
            client,
            "alice",
            title=f"added {added}",
            priority=PRIORITIES[added % 4],
            due_at=DUE_DATES[added % 5],
        )
        added += 1

    assert len(seen) == len(set(seen)), "no todo twice"
    assert existing <= set(seen), "every todo that existed before the walk"


async def test_filters_combine_and_count_what_they_match(client: httpx.AsyncClient) -> None:
    todos = await _seed(client, "alice", 16)

    async def ids(**params: Any) -> set[str]:
        page = (await client.get(todos_url("alice"), params={"limit": 1000, **params})).json()
        assert page["count"] == len(page["items"])
        return {item["id"] for item in page["items"]}

    def matching(predicate: Any) -> set[str]:
        return {t["id"] for t in todos if predicate(t)}

    assert await ids(priority=["high", "low"]) == matching(
        lambda t: t["priority"] in ("high", "low")
    )
    assert await ids(tag="WORK") == matching(lambda t: "Work" in t["tags"])
    assert await ids(tag=["home", "Errands"]) == matching(
        lambda t: {"home", "errands"} <= set(t["tags"])
    )
    assert await ids(tag=["home", "work"]) == set()
    cut = "2026-03-01T00:00:00Z"
    assert await ids(due_before=cut) == matching(
        lambda t: t["due_at"] is not None and t["due_at"] < cut
    )
    assert await ids(due_after=cut) == matching(
        lambda t: t["due_at"] is not None and t["due_at"] >= cut
    )
    overdue = matching(lambda t: t["due_at"] is not None and not t["is_completed"])  # all past
    assert await ids(overdue="true") == overdue
    assert await ids(overdue="false") == {t["id"] for t in todos} - overdue
    assert await ids(priority="none", is_completed="false", sort="due_at") == matching(
        lambda t: t["priority"] == "none" and not t["is_completed"]
    )


async def test_a_due_filter_takes_any_offset_and_compares_instants(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="t", due_at="2026-06-01T12:00:00Z")

    same_instant = "2026-06-01T14:00:00+02:00"
    after = (await client.get(todos_url("alice"), params={"due_after": same_instant})).json()
    before = (await client.get(todos_url("alice"), params={"due_before": same_instant})).json()

    assert [item["id"] for item in after["items"]] == [todo["id"]], "due_after is inclusive"
    assert before["items"] == [], "due_before is exclusive"


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"sort": "priority"}, id="another-sort"),
        pytest.param({"sort": "-due_at", "priority": "low"}, id="other-filters"),
        pytest.param({"sort": "-due_at", "user": "bob"}, id="another-user"),
    ],
)
async def test_a_cursor_reused_for_another_listing_is_a_422_naming_cursor(
    client: httpx.AsyncClient, changed: dict[str, str]
) -> None:
    for i in range(3):
        await create_todo(client, "alice", title=f"a{i}")
        await create_todo(client, "bob", title=f"b{i}")
    first = (await client.get(todos_url("alice"), params={"sort": "-due_at", "limit": 1})).json()

    params = {k: v for k, v in changed.items() if k != "user"} | {
        "cursor": first["next_cursor"],
        "limit": 1,
    }
    response = await client.get(todos_url(changed.get("user", "alice")), params=params)

    body = assert_validation_error(response, "query.cursor")
    assert "another listing" in body["field_errors"][0]["message"]


async def test_the_same_filters_spelled_another_way_keep_the_cursor(
    client: httpx.AsyncClient,
) -> None:
    for priority in ("low", "high", "low", "high"):
        await create_todo(client, "alice", title="t", priority=priority, tags=["A", "b"])
    first = (
        await client.get(
            todos_url("alice"), params={"priority": ["low", "high"], "tag": ["A", "b"], "limit": 2}
        )
    ).json()

    second = await client.get(
        todos_url("alice"),
        params={
            "priority": ["high", "low", "high"],
            "tag": ["b", "a"],
            "limit": 2,
            "cursor": first["next_cursor"],
        },
    )

    assert second.status_code == 200, second.text
    assert len(second.json()["items"]) == 2


async def test_a_hand_made_cursor_only_chooses_where_the_page_starts(
    client: httpx.AsyncClient,
) -> None:
    """A cursor is a position, never a permission: the user and the filters come from the
    request, so a cursor built by hand (the format is not secret) cannot show more."""
    mine = [
        await create_todo(client, "alice", title=f"a{i}", is_completed=i % 2 == 0) for i in range(4)
    ]
    await create_todo(client, "bob", title="bob's", is_completed=True)
    filters = TodoFilters(is_completed=True)
    from_the_top = Cursor(
        sort=Sort.CREATED_AT_DESC,
        key=FAR_FUTURE,
        created_at=FAR_FUTURE,
        id=uuid.UUID(int=2**128 - 1),
    ).encode(listing_binding("alice", Sort.CREATED_AT_DESC, filters))

    page = (
        await client.get(
            todos_url("alice"), params={"is_completed": "true", "cursor": from_the_top}
        )
    ).json()

    assert {item["id"] for item in page["items"]} == {t["id"] for t in mine if t["is_completed"]}


async def test_order_is_the_older_spelling_of_sort_by_created_at(client: httpx.AsyncClient) -> None:
    for i in range(4):
        await create_todo(client, "alice", title=f"t{i}")

    for order, sort in (("asc", "created_at"), ("desc", "-created_at")):
        by_order = (
            await client.get(todos_url("alice"), params={"order": order, "limit": 2})
        ).json()
        by_sort = (await client.get(todos_url("alice"), params={"sort": sort, "limit": 2})).json()
        assert by_order == by_sort
        rest = await client.get(
            todos_url("alice"), params={"sort": sort, "limit": 2, "cursor": by_order["next_cursor"]}
        )
        assert rest.status_code == 200


async def test_sort_and_order_together_are_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get(todos_url("alice"), params={"sort": "priority", "order": "asc"})

    body = assert_validation_error(response, "query.order")
    assert "not both" in body["field_errors"][0]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "importance"}, "query.sort"),
        ({"priority": "urgent"}, "query.priority.0"),
        ({"due_before": "2026-01-01T00:00:00"}, "query.due_before"),
        ({"due_after": "tomorrow"}, "query.due_after"),
        ({"tag": "x" * 41}, "query.tag.0"),
        ({"overdue": "maybe"}, "query.overdue"),
    ],
)
async def test_bad_listing_parameters_are_a_422_naming_them(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    assert_validation_error(await client.get(todos_url("alice"), params=params), field)


async def test_the_far_past_cursor_for_an_ascending_sort_is_an_empty_page(
    client: httpx.AsyncClient,
) -> None:
    await create_todo(client, "alice", title="t", due_at="2026-01-01T00:00:00Z")
    filters = TodoFilters()
    at_the_end = Cursor(
        sort=Sort.DUE_AT, key=None, created_at=FAR_PAST, id=uuid.UUID(int=0)
    ).encode(listing_binding("alice", Sort.DUE_AT, filters))

    page = (
        await client.get(todos_url("alice"), params={"sort": "due_at", "cursor": at_the_end})
    ).json()

    assert page == {"items": [], "count": 1, "next_cursor": None}
