"""Priority, due date, tags and completion time: what is stored, returned and refused."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import assert_validation_error, create_todo, todo_url, todos_url


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_new_todo_has_the_planning_defaults(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title="Plain")

    assert todo["priority"] == "none"
    assert todo["due_at"] is None
    assert todo["tags"] == []
    assert todo["completed_at"] is None


async def test_planning_fields_are_stored_and_returned_in_utc(client: httpx.AsyncClient) -> None:
    todo = await create_todo(
        client,
        "alice",
        title="Report",
        priority="high",
        due_at="2026-12-24T18:30:00+01:00",
        tags=["Work", "q4"],
    )

    fetched = (await client.get(todo_url("alice", todo["id"]))).json()
    assert fetched["priority"] == "high"
    assert fetched["due_at"] == "2026-12-24T17:30:00Z"
    assert fetched["tags"] == ["Work", "q4"]


async def test_tags_are_normalized_trimmed_and_deduplicated_keeping_the_first(
    client: httpx.AsyncClient,
) -> None:
    decomposed = "cafe\u0301"  # e + combining acute accent
    todo = await create_todo(
        client, "alice", title="t", tags=["  Work ", "work", "WORK", decomposed, "café"]
    )

    assert todo["tags"] == ["Work", "café"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"priority": "urgent"}, "body.priority", "one of none, low, medium or high"),
        ({"priority": 3}, "body.priority", "one of none, low, medium or high"),
        ({"due_at": "2026-12-24T18:30:00"}, "body.due_at", "offset"),
        ({"due_at": "2026-12-24"}, "body.due_at", "RFC 3339"),
        ({"due_at": "1700000000"}, "body.due_at", "RFC 3339"),
        ({"due_at": 1700000000}, "body.due_at", "RFC 3339"),
        ({"due_at": "9999-12-31T23:00:00-05:00"}, "body.due_at", "year 10000"),
        ({"tags": [f"t{i}" for i in range(21)]}, "body.tags", "at most 20"),
        ({"tags": ["x" * 41]}, "body.tags.0", "at most 40 characters"),
        ({"tags": ["ok", "   "]}, "body.tags.1", "blank"),
        ({"tags": ["a\x00b"]}, "body.tags.0", "NUL"),
        ({"tags": "work"}, "body.tags", "array"),
    ],
)
async def test_bad_planning_fields_are_a_422_that_creates_nothing(
    client: httpx.AsyncClient, fields: dict[str, Any], field: str, message: str
) -> None:
    response = await client.post(todos_url("alice"), json={"title": "t", **fields})

    body = assert_validation_error(response, field)
    assert any(message in error["message"] for error in body["field_errors"]), body
    assert (await client.get(todos_url("alice"))).json()["count"] == 0


async def test_completed_at_follows_completion_on_every_kind_of_write(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="t")
    url = todo_url("alice", todo["id"])

    completed = (await client.patch(url, json={"is_completed": True})).json()
    assert completed["completed_at"] == completed["updated_at"]

    untouched = (await client.patch(url, json={"title": "renamed"})).json()
    assert untouched["completed_at"] == completed["completed_at"]

    again = (await client.patch(url, json={"is_completed": True})).json()
    assert again["completed_at"] == completed["completed_at"], "stays as it was"

    reopened = (await client.patch(f"{url}/complete")).json()
    assert reopened["is_completed"] is False
    assert reopened["completed_at"] is None

    toggled = (await client.patch(f"{url}/complete")).json()
    assert toggled["completed_at"] == toggled["updated_at"]

    replaced = (
        await client.put(url, json={"title": "t", "description": None, "is_completed": False})
    ).json()
    assert replaced["completed_at"] is None


async def test_completed_at_is_never_taken_from_a_client(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title="t", completed_at="2020-01-01T00:00:00Z")

    assert todo["completed_at"] is None


async def test_a_todo_created_completed_has_its_creation_time_as_completed_at(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="done already", is_completed=True)

    assert todo["completed_at"] == todo["created_at"]


async def test_a_put_without_the_planning_fields_keeps_them(client: httpx.AsyncClient) -> None:
    todo = await create_todo(
        client, "alice", title="t", priority="high", due_at="2027-01-01T00:00:00Z", tags=["a"]
    )

    replaced = await client.put(
        todo_url("alice", todo["id"]),
        json={"title": "new", "description": None, "is_completed": False},
    )

    assert replaced.status_code == 200
    body = replaced.json()
    assert body["title"] == "new"
    assert (body["priority"], body["due_at"], body["tags"]) == (
        "high",
        "2027-01-01T00:00:00Z",
        ["a"],
    )


async def test_a_put_with_the_planning_fields_replaces_them(client: httpx.AsyncClient) -> None:
    todo = await create_todo(
        client, "alice", title="t", priority="high", due_at="2027-01-01T00:00:00Z", tags=["a"]
    )

    body = (
        await client.put(
            todo_url("alice", todo["id"]),
            json={
                "title": "t",
                "description": None,
                "is_completed": False,
                "priority": "low",
                "due_at": None,
                "tags": [],
            },
        )
    ).json()

    assert (body["priority"], body["due_at"], body["tags"]) == ("low", None, [])


async def test_patch_replaces_tags_and_clears_due_at(client: httpx.AsyncClient) -> None:
    todo = await create_todo(
        client, "alice", title="t", due_at="2027-01-01T00:00:00Z", tags=["a", "b"]
    )

    body = (
        await client.patch(todo_url("alice", todo["id"]), json={"tags": ["c"], "due_at": None})
    ).json()

    assert body["tags"] == ["c"]
    assert body["due_at"] is None


async def test_the_table_refuses_an_unknown_priority_and_too_many_or_long_tags(
    admin_engine: AsyncEngine,
) -> None:
    """The database repeats the API's limits, so no other writer can break them."""
    insert = "INSERT INTO todos (user_id, title, {column}) VALUES ('u', 't', {value})"
    refused = [
        ("priority", "4", "violates check constraint"),
        ("tags", "array_fill('x'::varchar, ARRAY[21])", "violates check constraint"),
        ("tags", "ARRAY[repeat('x', 41)]", "value too long"),
    ]
    for column, value, reason in refused:
        async with admin_engine.connect() as connection:
            with pytest.raises(Exception, match=reason):
                await connection.execute(text(insert.format(column=column, value=value)))


async def test_due_at_keeps_microseconds(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title="t", due_at="2027-01-01T08:00:00.123456+00:00")

    assert _instant(todo["due_at"]) == datetime(2027, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)
