"""Conditional requests (RFC 9110): strong ETags on every todo and list, 304 for a read
that already has the current version, 412 for a write from a stale one, 428 where the
settings require If-Match, and a check-and-write that two racing writers cannot both pass."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.helpers import API, assert_error, assert_validation_error, create_todo, todo_url
from todo_api.main import create_app


def lists_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/lists"


async def etag_of(client: httpx.AsyncClient, url: str) -> str:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def test_every_single_item_response_carries_a_strong_etag(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(f"{API}/users/alice/todos", json={"title": "Milk"})
    url = created.headers["location"]
    responses = [
        created,
        await client.get(url),
        await client.put(
            url, json={"title": "Oat milk", "description": None, "is_completed": False}
        ),
        await client.patch(url, json={"priority": "high"}),
        await client.patch(f"{url}/complete"),
        await client.post(f"{url}/move", json={}),
        await client.post(lists_url("alice"), json={"name": "Groceries"}),
    ]
    todo_list = responses[-1].json()
    list_url = f"{lists_url('alice')}/{todo_list['id']}"
    responses += [await client.get(list_url), await client.patch(list_url, json={"name": "Food"})]

    for response in responses:
        assert response.status_code in (200, 201), response.text
        etag = response.headers["etag"]
        assert etag.startswith('"')
        assert etag.endswith('"')  # strong: no W/
    # The same representation has the same tag, wherever it comes from.
    assert responses[1].headers["etag"] == created.headers["etag"]
    writes = [
        response.headers["etag"] for response in responses if response.request.method != "GET"
    ]
    assert len(set(writes)) == len(writes)


async def test_the_etag_changes_exactly_when_the_representation_does(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="Milk")
    url = todo_url("alice", todo["id"])
    first = await etag_of(client, url)
    assert await etag_of(client, url) == first  # reading changes nothing
    assert (await client.patch(url, json={})).headers["etag"] == first  # nor does an empty patch

    patched = await client.patch(url, json={"title": "Oat milk"})
    assert patched.headers["etag"] != first
    assert await etag_of(client, url) == patched.headers["etag"]


async def test_a_lists_etag_follows_its_counts(client: httpx.AsyncClient) -> None:
    created = await client.post(lists_url("alice"), json={"name": "Groceries"})
    list_url = created.headers["location"]
    empty = await etag_of(client, list_url)

    await create_todo(client, "alice", title="Milk", list_id=created.json()["id"])

    fetched = await client.get(list_url)
    assert (
        fetched.json()["updated_at"] == created.json()["updated_at"]
    )  # the list's row is as it was
    assert fetched.json()["todo_count"] == 1
    assert fetched.headers["etag"] != empty


async def test_if_none_match_answers_304_without_a_body(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice")
    url = todo_url("alice", todo["id"])
    etag = await etag_of(client, url)

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag

    stale = await client.get(url, headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200
    assert stale.json() == todo


async def test_if_none_match_on_a_list(client: httpx.AsyncClient) -> None:
    created = await client.post(lists_url("alice"), json={"name": "Groceries"})
    url = created.headers["location"]

    response = await client.get(url, headers={"If-None-Match": created.headers["etag"]})

    assert response.status_code == 304


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "", {"title": "Changed", "description": None, "is_completed": True}),
        ("PATCH", "", {"title": "Changed"}),
        ("PATCH", "/complete", None),
        ("DELETE", "", None),
        ("POST", "/move", {}),
    ],
)
async def test_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    todo = await create_todo(client, "alice", title="Milk")
    url = todo_url("alice", todo["id"])
    stale = await etag_of(client, url)
    current = (await client.patch(url, json={"priority": "low"})).headers["etag"]

    response = await client.request(
        method, f"{url}{suffix}", json=body, headers={"If-Match": stale}
    )

    assert_error(response, 412, "PRECONDITION_FAILED")
    assert response.headers["etag"] == current
    after = await client.get(url)
    assert after.status_code == 200
    assert after.headers["etag"] == current


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status"),
    [
        ("PUT", "", {"title": "Changed", "description": None, "is_completed": True}, 200),
        ("PATCH", "", {"title": "Changed"}, 200),
        ("PATCH", "/complete", None, 200),
        ("DELETE", "", None, 204),
        ("POST", "/move", {}, 200),
    ],
)
async def test_a_current_if_match_lets_the_write_through(
    client: httpx.AsyncClient, method: str, suffix: str, body: dict[str, Any] | None, status: int
) -> None:
    todo = await create_todo(client, "alice", title="Milk")
    url = todo_url("alice", todo["id"])
    etag = await etag_of(client, url)

    response = await client.request(
        method, f"{url}{suffix}", json=body, headers={"If-Match": f'"older", {etag}'}
    )

    assert response.status_code == status, response.text
    if status == 200:
        assert response.headers["etag"] != etag
        assert response.headers["etag"] == await etag_of(client, url)


async def test_if_match_compares_strongly_and_star_means_any_version(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="Milk")
    url = todo_url("alice", todo["id"])
    etag = await etag_of(client, url)

    weak = await client.patch(url, json={"title": "x"}, headers={"If-Match": f"W/{etag}"})
    assert_error(weak, 412, "PRECONDITION_FAILED")

    star = await client.patch(url, json={"title": "Oat milk"}, headers={"If-Match": "*"})
    assert star.status_code == 200
    assert star.json()["title"] == "Oat milk"


async def test_a_missing_item_is_404_whatever_if_match_says(client: httpx.AsyncClient) -> None:
    """Another user's todo stays not found: a precondition is never evaluated on nothing."""
    todo = await create_todo(client, "alice", title="Milk")
    etag = await etag_of(client, todo_url("alice", todo["id"]))

    for header in ("*", etag):
        response = await client.patch(
            todo_url("bob", todo["id"]), json={"title": "mine"}, headers={"If-Match": header}
        )
        assert_error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize("header", ["abc", '"unterminated', '"a" "b"', "W/", ",", '"a"; "b"'])
async def test_a_malformed_if_match_is_a_422_naming_the_header(
    client: httpx.AsyncClient, header: str
) -> None:
    todo = await create_todo(client, "alice", title="Milk")
    url = todo_url("alice", todo["id"])

    response = await client.patch(url, json={"title": "x"}, headers={"If-Match": header})

    body = assert_validation_error(response, "header.If-Match")
    assert "entity tags" in body["field_errors"][0]["message"]
    assert (await client.get(url)).json()["title"] == "Milk"


async def test_two_writers_holding_the_same_etag_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(client, "alice", title="Milk")
    url = todo_url("alice", todo["id"])
    etag = await etag_of(client, url)

    responses = await asyncio.gather(
        *(
            client.patch(url, json={"title": f"writer {n}"}, headers={"If-Match": etag})
            for n in range(10)
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 9
    winner = next(response for response in responses if response.status_code == 200)
    assert (await client.get(url)).json()["title"] == winner.json()["title"]


async def test_list_writes_honour_if_match(client: httpx.AsyncClient) -> None:
    created = await client.post(lists_url("alice"), json={"name": "Groceries"})
    url = created.headers["location"]
    stale = created.headers["etag"]
    renamed = await client.patch(url, json={"name": "Food"}, headers={"If-Match": stale})
    assert renamed.status_code == 200

    again = await client.patch(url, json={"name": "Shop"}, headers={"If-Match": stale})
    assert_error(again, 412, "PRECONDITION_FAILED")
    assert again.headers["etag"] == renamed.headers["etag"]
    refused = await client.delete(url, headers={"If-Match": stale})
    assert_error(refused, 412, "PRECONDITION_FAILED")
    assert (await client.get(url)).json()["name"] == "Food"

    deleted = await client.delete(url, headers={"If-Match": renamed.headers["etag"]})
    assert deleted.status_code == 204


@pytest.fixture
async def strict_client(app_database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app started with REQUIRE_IF_MATCH=true."""
    app: FastAPI = create_app(make_settings(app_database_url, require_if_match=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_require_if_match_refuses_unconditional_writes_with_428(
    strict_client: httpx.AsyncClient,
) -> None:
    todo = await create_todo(strict_client, "alice", title="Milk")  # creating needs no tag
    url = todo_url("alice", todo["id"])
    created_list = await strict_client.post(lists_url("alice"), json={"name": "Groceries"})
    assert created_list.status_code == 201

    for method, target, body in [
        ("PUT", url, {"title": "x", "description": None, "is_completed": False}),
        ("PATCH", url, {"title": "x"}),
        ("PATCH", f"{url}/complete", None),
        ("DELETE", url, None),
        ("POST", f"{url}/move", {}),
        ("PATCH", created_list.headers["location"], {"name": "Food"}),
        ("DELETE", created_list.headers["location"], None),
    ]:
        response = await strict_client.request(method, target, json=body)
        assert_error(response, 428, "PRECONDITION_REQUIRED")
    assert (await strict_client.get(url)).json() == todo

    etag = await etag_of(strict_client, url)
    allowed = await strict_client.patch(url, json={"title": "x"}, headers={"If-Match": etag})
    assert allowed.status_code == 200
