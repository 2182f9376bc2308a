"""The change feed: a client that syncs with `since` ends with exactly the server's todos
and lists, whatever order concurrent transactions commit in (decision 0017).

- A transaction that begins first and commits last (held open here, writing through the
  service's own statements) shows up in the sync after its commit, although a client
  synced in between, and although its ids and timestamps are older than what that client
  already saw.
- Under concurrent writers of every kind (creates, updates, toggles, moves, single and
  bulk deletes, list deletes with their todos, conditional writes in transactions), a
  client syncing continuously with small pages ends, after one last sync, with exactly the
  todos and lists the listings return.
- Every delete leaves a tombstone (one todo, a bulk delete, a list with `?todos=delete`),
  while the deleted item stays a 404 everywhere else.
- A token older than TOMBSTONE_RETENTION (or from a snapshot the database has not reached)
  is a 410 RESYNC_REQUIRED, whether or not any tombstone was purged yet.
- Another user's changes never appear; another user's token is a 422 on `query.since`.
- Pages: `limit`, `has_more`, and a pass whose items change between its pages.
- An empty poll is one statement, reading an index range of each table.
"""

import asyncio
import json
import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import updates_without_change_xid, url_string
from tests.feed_copy import (
    MAX_PAGES,
    State,
    changes_url,
    counts_from_todos,
    lists_url,
    server_state,
    without_counts,
)
from tests.helpers import API, assert_error, assert_validation_error, create_todo, todo_url
from tests.statements import observing
from todo_api.db.database import Database
from todo_api.db.url import parse_database_url
from todo_api.errors import ResyncRequired
from todo_api.models.lists import TodoListCreate
from todo_api.models.todos import TodoCreate
from todo_api.services import changes as feed
from todo_api.services import lists as lists_service
from todo_api.services import todo_moves
from todo_api.services import todos as todos_service


class Client:
    """A syncing client: its copy of the user's todos and lists, and its token."""

    def __init__(self, http: httpx.AsyncClient, user_id: str, *, limit: int = 100) -> None:
        self.http = http
        self.user_id = user_id
        self.limit = limit
        self.state: State = {}
        self.token: str | None = None
        self.tombstones: list[dict[str, Any]] = []
        self.passes = 0

    async def page(self) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.limit}
        if self.token is not None:
            params["since"] = self.token
        response = await self.http.get(changes_url(self.user_id), params=params)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    def apply(self, page: dict[str, Any]) -> None:
        for item in page["items"]:
            key = (item["type"], item["id"])
            if item["deleted_at"] is None:
                assert item["data"] is not None
                assert item["data"]["id"] == item["id"]
                self.state[key] = item["data"]
            else:
                assert item["data"] is None
                self.tombstones.append(item)
                self.state.pop(key, None)
        self.token = page["next"]

    async def sync(self) -> list[dict[str, Any]]:
        """One whole pass: pages until `has_more` is false; every item received."""
        received: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = await self.page()
            assert len(page["items"]) <= self.limit
            received += page["items"]
            self.apply(page)
            if not page["has_more"]:
                self.passes += 1
                return received
        raise AssertionError("the pass never ended")


async def create_list(http: httpx.AsyncClient, user_id: str, name: str) -> dict[str, Any]:
    response = await http.post(lists_url(user_id), json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def database(app: FastAPI) -> Database:
    app_database: Database = app.state.database
    return app_database


# ---- basics ---------------------------------------------------------------------------


async def test_the_first_sync_returns_every_current_todo_and_list_as_the_api_shows_them(
    client: httpx.AsyncClient,
) -> None:
    groceries = await create_list(client, "alice", "Groceries")
    todo = await create_todo(client, "alice", list_id=groceries["id"], tags=["x"], priority="high")
    other = await create_todo(client, "alice")
    gone = await create_todo(client, "alice")
    assert (await client.delete(todo_url("alice", gone["id"]))).status_code == 204

    alice = Client(client, "alice")
    items = await alice.sync()

    assert {(item["type"], item["id"]) for item in items} == {
        ("list", groceries["id"]),
        ("todo", todo["id"]),
        ("todo", other["id"]),
    }  # no tombstone without since
    assert all(item["deleted_at"] is None for item in items)
    assert alice.state == await server_state(client, "alice")
    listed = alice.state[("list", groceries["id"])]
    assert listed["todo_count"] == 1
    assert listed["open_count"] == 1
    assert (
        alice.state[("todo", todo["id"])]
        == (await client.get(todo_url("alice", todo["id"]))).json()
    )
    assert "change_xid" not in alice.state[("todo", todo["id"])]


async def test_an_empty_poll_is_empty_and_a_change_comes_once(client: httpx.AsyncClient) -> None:
    alice = Client(client, "alice")
    assert await alice.sync() == []
    first_token = alice.token
    assert await alice.sync() == []
    assert alice.token != first_token  # it moves on, so an idle client never ages out

    todo = await create_todo(client, "alice")
    assert [item["id"] for item in await alice.sync()] == [todo["id"]]
    assert await alice.sync() == []

    patched = await client.patch(todo_url("alice", todo["id"]), json={"title": "renamed"})
    assert [item["data"] for item in await alice.sync()] == [patched.json()]
    assert await alice.sync() == []


# ---- (1) two interleaved transactions --------------------------------------------------


async def _xid_of(engine: AsyncEngine, table: str, row_id: str) -> int:
    async with engine.connect() as connection:
        value = await connection.scalar(
            sa.text(f"SELECT change_xid::text FROM {table} WHERE id = CAST(:id AS uuid)"),
            {"id": row_id},
        )
    return int(value)


async def test_a_transaction_that_began_first_and_committed_last_is_in_the_next_sync(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    doomed = await create_todo(client, "alice", title="deleted by T1")
    alice = Client(client, "alice")
    await alice.sync()

    # T1 writes first, through the services' own statements, and stays open.
    async with database(app).transaction() as t1:
        early = await todos_service.create_todo(t1, "alice", TodoCreate(title="by T1"))
        early_list = await lists_service.create_list(t1, "alice", TodoListCreate(name="by T1"))
        deleted = await t1.fetch_one(
            todos_service._DELETE, user_id="alice", todo_id=uuid.UUID(doomed["id"])
        )
        assert deleted is not None
        # T2 begins after it and commits before it.
        later = await create_todo(client, "alice", title="by T2")

        between = await alice.sync()

        assert [item["id"] for item in between] == [later["id"]]
        # By every other measure T1 is older than what the client has already seen: a feed
        # ordered by updated_at or by a sequence would never send it.
        assert early["updated_at"] < datetime.fromisoformat(later["updated_at"])
    # T1 commits.
    t1_xid = await _xid_of(admin_engine, "todos", str(early["id"]))
    assert t1_xid < await _xid_of(admin_engine, "todos", later["id"])

    after = await alice.sync()

    assert {(item["type"], item["id"], item["deleted_at"] is not None) for item in after} == {
        ("todo", str(early["id"]), False),
        ("list", str(early_list["id"]), False),
        ("todo", doomed["id"], True),
    }
    assert alice.state == await server_state(client, "alice")
    assert await alice.sync() == []


async def test_an_update_held_behind_a_row_lock_is_not_missed(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine, database_url: URL
) -> None:
    """An API write that waits behind another transaction's row lock, while a later write
    commits and a client syncs, still comes in the sync after it is let through."""
    locked = await create_todo(client, "alice", title="locked")
    alice = Client(client, "alice")
    await alice.sync()
    blocker = await asyncpg.connect(**parse_database_url(url_string(database_url)).connect_kwargs)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        # T1: takes an id first, and holds the row.
        await blocker.execute(
            "UPDATE todos SET change_xid = pg_current_xact_id()"
            " WHERE user_id = 'alice' AND id = $1",
            uuid.UUID(locked["id"]),
        )
        waiting = asyncio.create_task(
            client.patch(todo_url("alice", locked["id"]), json={"title": "patched"})
        )
        later = await create_todo(client, "alice", title="committed meanwhile")
        between = await alice.sync()
        assert [item["id"] for item in between] == [later["id"]]
        assert not waiting.done()
        await transaction.commit()
        patched = await waiting
        assert patched.status_code == 200, patched.text
    finally:
        await blocker.close()

    after = await alice.sync()

    assert [item["data"] for item in after] == [patched.json()]
    assert alice.state == await server_state(client, "alice")


# ---- (2) concurrent writers, a client syncing all along ---------------------------------


class Writer:
    """Random writes of every kind to one user's todos and lists, through the API (and a
    few through the services in a transaction held open for a while)."""

    def __init__(self, app: FastAPI, http: httpx.AsyncClient, user_id: str, seed: int) -> None:
        self.app = app
        self.http = http
        self.user_id = user_id
        self.random = random.Random(seed)  # noqa: S311  (repeatable, not secret)
        self.todos: list[str] = []
        self.lists: list[str] = []
        self.statuses: list[int] = []

    def _pick(self, ids: list[str]) -> str | None:
        return self.random.choice(ids) if ids else None

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code < 500, (method, url, response.text)
        self.statuses.append(response.status_code)
        return response

    async def step(self, number: int) -> None:  # noqa: PLR0912  (one branch per kind of write)
        todos, lists = f"{API}/users/{self.user_id}/todos", lists_url(self.user_id)
        todo, todo_list = self._pick(self.todos), self._pick(self.lists)
        choice = self.random.random()
        if choice < 0.25 or todo is None:
            body: dict[str, Any] = {
                "title": f"todo {number}",
                "tags": self.random.sample(["a", "b", "doomed"], 1),
            }
            if todo_list is not None and self.random.random() < 0.5:
                body["list_id"] = todo_list
            response = await self._send("POST", todos, json=body)
            if response.status_code == 201:
                self.todos.append(response.json()["id"])
        elif choice < 0.35:
            response = await self._send(
                "POST",
                f"{todos}/bulk",
                json={
                    "todos": [{"title": f"bulk {number}.{i}", "tags": ["doomed"]} for i in range(3)]
                },
            )
            if response.status_code == 201:
                self.todos += [item["id"] for item in response.json()["items"]]
        elif choice < 0.50:
            await self._send(
                "PATCH",
                f"{todos}/{todo}",
                json={"title": f"patched {number}", "is_completed": self.random.random() < 0.5},
            )
        elif choice < 0.57:
            await self._send("PATCH", f"{todos}/{todo}/complete")
        elif choice < 0.62:
            current = await self.http.get(f"{todos}/{todo}")
            if current.status_code == 200:
                await self._send(
                    "PATCH",
                    f"{todos}/{todo}",
                    json={"priority": "high"},
                    headers={"If-Match": current.headers["etag"]},
                )
        elif choice < 0.70:
            await self._send("DELETE", f"{todos}/{todo}")
        elif choice < 0.73:
            await self._send(
                "DELETE", f"{todos}?tag=doomed&is_completed={self.random.choice(['true', 'false'])}"
            )
        elif choice < 0.76:
            await self._send(
                "PATCH", f"{todos}?tag=a", json={"priority": self.random.choice(["low", "medium"])}
            )
        elif choice < 0.82:
            target = todo_list if self.random.random() < 0.7 else None
            await self._send("POST", f"{todos}/{todo}/move", json={"list_id": target})
        elif choice < 0.87 or todo_list is None:
            response = await self._send(
                "POST", lists, json={"name": f"list {self.user_id} {number}"}
            )
            if response.status_code == 201:
                self.lists.append(response.json()["id"])
        elif choice < 0.91:
            await self._send(
                "PATCH", f"{lists}/{todo_list}", json={"name": f"renamed {self.user_id} {number}"}
            )
        elif choice < 0.95:
            what = self.random.choice(["delete", "unlist"])
            await self._send("DELETE", f"{lists}/{todo_list}?todos={what}")
        else:
            # A write that begins now and commits a while later, after others.
            async with database(self.app).transaction() as transaction:
                created = await todos_service.create_todo(
                    transaction, self.user_id, TodoCreate(title=f"slow {number}")
                )
                await asyncio.sleep(self.random.uniform(0.01, 0.08))
            self.todos.append(str(created["id"]))

    async def run(self, steps: int, start: int) -> None:
        for number in range(start, start + steps):
            await self.step(number)
            await asyncio.sleep(0)


@pytest.mark.timeout(120)
async def test_a_client_syncing_under_concurrent_writes_ends_with_exactly_the_servers_state(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    writers = [Writer(app, client, "alice", seed) for seed in range(4)]
    bystander = Writer(app, client, "bob", 99)
    alice = Client(client, "alice", limit=7)
    writing = asyncio.gather(
        *(writer.run(60, 1000 * index) for index, writer in enumerate(writers)),
        bystander.run(30, 9000),
    )
    received = 0
    while not writing.done():
        received += len(await alice.sync())
    await writing

    await alice.sync()  # one last sync once the writes are over

    server = await server_state(client, "alice")
    assert without_counts(alice.state) == without_counts(server)
    # A list's counts are as of the answer that carried the list; a client that keeps its
    # todos has them exactly.
    assert counts_from_todos(alice.state) == {
        key[1]: (value["todo_count"], value["open_count"])
        for key, value in server.items()
        if key[0] == "list"
    }
    assert all(key[0] in {"todo", "list"} for key in alice.state)
    assert alice.passes > 3  # it really synced while the writes went on
    assert alice.tombstones  # and deletions came as tombstones
    statuses = [status for writer in writers for status in writer.statuses]
    assert statuses.count(200) + statuses.count(201) + statuses.count(204) > 100
    assert await alice.sync() == []


# ---- (3) tombstones ----------------------------------------------------------------------


async def _tombstones(engine: AsyncEngine) -> set[tuple[str, str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.text("SELECT user_id, type, id::text FROM tombstones"))
    return {(row.user_id, row.type, row.id) for row in rows}


async def test_every_kind_of_delete_leaves_a_tombstone_and_the_item_stays_a_404(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    one = await create_todo(client, "alice", title="one")
    done = [
        await create_todo(client, "alice", title=f"done {i}", is_completed=True) for i in range(3)
    ]
    kept = await create_todo(client, "alice", title="kept")
    doomed_list = await create_list(client, "alice", "Doomed")
    in_doomed = [await create_todo(client, "alice", list_id=doomed_list["id"]) for _ in range(2)]
    emptied = await create_list(client, "alice", "Emptied")
    unlisted = await create_todo(client, "alice", list_id=emptied["id"])
    alice = Client(client, "alice")
    await alice.sync()

    assert (await client.delete(todo_url("alice", one["id"]))).status_code == 204
    bulk = await client.delete(f"{API}/users/alice/todos?is_completed=true")
    assert bulk.json() == {"deleted": 3}
    deleting = await client.delete(f"{lists_url('alice')}/{doomed_list['id']}?todos=delete")
    assert deleting.status_code == 204
    unlisting = await client.delete(f"{lists_url('alice')}/{emptied['id']}?todos=unlist")
    assert unlisting.status_code == 204

    items = await alice.sync()

    gone = {
        ("todo", one["id"]),
        *(("todo", todo["id"]) for todo in done + in_doomed),
        ("list", doomed_list["id"]),
        ("list", emptied["id"]),
    }
    tombstones = {(item["type"], item["id"]) for item in items if item["deleted_at"] is not None}
    assert tombstones == gone
    assert all(item["data"] is None for item in items if item["deleted_at"] is not None)
    assert await _tombstones(admin_engine) == {("alice", kind, id_) for kind, id_ in gone}
    # The todo kept in no list changed (its list_id), and comes as an update.
    updates = [item for item in items if item["deleted_at"] is None]
    assert [(item["id"], item["data"]["list_id"]) for item in updates] == [(unlisted["id"], None)]
    assert set(alice.state) == {("todo", kept["id"]), ("todo", unlisted["id"])}
    assert alice.state == await server_state(client, "alice")
    for kind, id_ in gone:
        url = todo_url("alice", id_) if kind == "todo" else f"{lists_url('alice')}/{id_}"
        assert_error(await client.get(url), 404, "NOT_FOUND")
        assert_error(await client.delete(url), 404, "NOT_FOUND")
    # A delete that deletes nothing leaves nothing.
    assert await _tombstones(admin_engine) == {("alice", kind, id_) for kind, id_ in gone}
    assert await alice.sync() == []


async def test_a_refused_list_delete_leaves_no_tombstone(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    groceries = await create_list(client, "alice", "Groceries")
    await create_todo(client, "alice", list_id=groceries["id"])

    refused = await client.delete(f"{lists_url('alice')}/{groceries['id']}")

    assert_error(refused, 409, "LIST_NOT_EMPTY")
    assert await _tombstones(admin_engine) == set()


# ---- (4) 410 for an old token ------------------------------------------------------------


def _aged(token: str, user_id: str, by: timedelta) -> str:
    parsed = feed.decode_token(token, user_id)

    def older(taken: feed.Taken | None) -> feed.Taken | None:
        return None if taken is None else feed.Taken(taken.snapshot, taken.at - by)

    return feed.encode_token(
        feed.Token(old=older(parsed.old), start=older(parsed.start), after=parsed.after),
        user_id,
    )


async def test_a_token_older_than_the_retention_is_a_410_even_before_any_purge(
    client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    todo = await create_todo(client, "alice")
    alice = Client(client, "alice")
    await alice.sync()
    assert (await client.delete(todo_url("alice", todo["id"]))).status_code == 204
    assert alice.token is not None
    fresh = alice.token

    just_in_time = _aged(fresh, "alice", timedelta(days=29, hours=23))
    ok = await client.get(changes_url("alice"), params={"since": just_in_time})
    assert ok.status_code == 200, ok.text
    too_old = _aged(fresh, "alice", timedelta(days=30, minutes=1))
    gone = await client.get(changes_url("alice"), params={"since": too_old})

    assert_error(gone, 410, "RESYNC_REQUIRED")
    assert len(await _tombstones(admin_engine)) == 1  # nothing was purged
    # Starting again without since works, and goes on from there.
    restarted = Client(client, "alice")
    assert await restarted.sync() == []
    assert await restarted.sync() == []


async def test_a_page_of_a_pass_is_a_410_when_its_pass_began_too_long_ago(
    client: httpx.AsyncClient,
) -> None:
    for index in range(3):
        await create_todo(client, "alice", title=f"todo {index}")
    first = (await client.get(changes_url("alice"), params={"limit": 1})).json()
    assert first["has_more"]

    old = _aged(first["next"], "alice", timedelta(days=31))
    response = await client.get(changes_url("alice"), params={"since": old, "limit": 1})

    assert_error(response, 410, "RESYNC_REQUIRED")


async def test_a_token_from_a_snapshot_the_database_has_not_reached_is_a_410(
    client: httpx.AsyncClient,
) -> None:
    """As after a restore to an earlier point: the token's transactions never happened here."""
    alice = Client(client, "alice")
    await alice.sync()
    assert alice.token is not None
    parsed = feed.decode_token(alice.token, "alice")
    assert parsed.old is not None
    ahead = feed.Snapshot(parsed.old.snapshot.xmin + 10**6, parsed.old.snapshot.xmax + 10**6, ())
    future = feed.encode_token(feed.Token(old=feed.Taken(ahead, parsed.old.at)), "alice")

    response = await client.get(changes_url("alice"), params={"since": future})

    assert_error(response, 410, "RESYNC_REQUIRED")


async def test_the_retention_is_the_one_given(app: FastAPI, client: httpx.AsyncClient) -> None:
    alice = Client(client, "alice")
    await alice.sync()
    await asyncio.sleep(0.6)
    db = database(app)

    page = await feed.changes(
        db, "alice", since=alice.token, limit=10, retention=timedelta(hours=1)
    )
    assert page.items == []
    with pytest.raises(ResyncRequired):
        await feed.changes(
            db, "alice", since=alice.token, limit=10, retention=timedelta(seconds=0.5)
        )


# ---- (5) one user's feed ----------------------------------------------------------------


async def test_another_users_changes_never_appear_and_their_token_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = Client(client, "alice"), Client(client, "bob")
    await alice.sync()
    await bob.sync()
    bobs = await create_todo(client, "bob")
    await create_list(client, "bob", "Bob's")
    assert (await client.delete(todo_url("bob", bobs["id"]))).status_code == 204
    await create_todo(client, "bob")

    assert await alice.sync() == []
    assert len(await bob.sync()) == 3
    assert alice.token is not None
    foreign = await client.get(changes_url("bob"), params={"since": alice.token})
    body = assert_validation_error(foreign, "query.since")
    assert body["field_errors"] == [{"field": "query.since", "message": feed.OTHER_USER}]


@pytest.mark.parametrize(
    "since",
    ["x", "AAAA", "A" * 40, "a" * (feed.SINCE_MAX_LENGTH + 1), "not a token!", ""],
    ids=["short", "zeros", "long zeros", "too long", "not base64url", "empty"],
)
async def test_a_token_the_feed_did_not_issue_is_a_422(
    client: httpx.AsyncClient, since: str
) -> None:
    response = await client.get(changes_url("alice"), params={"since": since})

    assert_validation_error(response, "query.since")


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "x"])
async def test_a_limit_out_of_range_is_a_422(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get(changes_url("alice"), params={"limit": limit})

    assert_validation_error(response, "query.limit")


async def test_a_snapshot_that_postgresql_would_refuse_is_a_422(client: httpx.AsyncClient) -> None:
    bad = feed.Snapshot(xmin=10, xmax=20, xip=(25,))
    raw = feed.encode_token(feed.Token(old=feed.Taken(bad, datetime.now(UTC))), "alice")

    response = await client.get(changes_url("alice"), params={"since": raw})

    assert_validation_error(response, "query.since")


# ---- (6) pages -----------------------------------------------------------------------------


async def test_a_pass_pages_by_limit_with_has_more_and_sends_each_item_once(
    client: httpx.AsyncClient,
) -> None:
    created = {
        ("todo", (await create_todo(client, "alice", title=f"t{i}"))["id"]) for i in range(25)
    }
    created |= {("list", (await create_list(client, "alice", f"l{i}"))["id"]) for i in range(3)}
    alice = Client(client, "alice", limit=10)

    pages = []
    for _ in range(5):
        page = await alice.page()
        alice.apply(page)
        pages.append(page)
        if not page["has_more"]:
            break

    assert [(len(page["items"]), page["has_more"]) for page in pages] == [
        (10, True),
        (10, True),
        (8, False),
    ]
    sent = [(item["type"], item["id"]) for page in pages for item in page["items"]]
    assert len(sent) == len(set(sent))
    assert set(sent) == created
    assert await alice.sync() == []


async def test_items_changed_between_the_pages_of_a_pass_arrive_in_their_last_state(
    client: httpx.AsyncClient,
) -> None:
    alice = Client(client, "alice", limit=5)
    await alice.sync()
    todos = [await create_todo(client, "alice", title=f"t{i}") for i in range(12)]

    first = await alice.page()
    alice.apply(first)
    assert first["has_more"]
    sent = {item["id"] for item in first["items"]}
    sent_one = next(todo for todo in todos if todo["id"] in sent)
    unsent = [todo for todo in todos if todo["id"] not in sent]
    await client.patch(
        todo_url("alice", sent_one["id"]), json={"title": "changed after it was sent"}
    )
    await client.patch(
        todo_url("alice", unsent[0]["id"]), json={"title": "changed before it was sent"}
    )
    assert (await client.delete(todo_url("alice", unsent[1]["id"]))).status_code == 204
    late = await create_todo(client, "alice", title="created during the pass")

    await alice.sync()  # the rest of the pass
    await alice.sync()  # and the next one

    assert alice.state == await server_state(client, "alice")
    assert alice.state[("todo", sent_one["id"])]["title"] == "changed after it was sent"
    assert alice.state[("todo", unsent[0]["id"])]["title"] == "changed before it was sent"
    assert ("todo", unsent[1]["id"]) not in alice.state
    assert ("todo", late["id"]) in alice.state


# ---- the cost of a poll ------------------------------------------------------------------


async def test_each_page_and_an_empty_poll_are_one_statement(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for index in range(3):
        await create_todo(client, "alice", title=f"t{index}")
    alice = Client(client, "alice", limit=2)
    sent: list[str] = []
    async with observing(sent.append):
        for _ in range(4):
            sent.clear()
            page = await alice.page()
            alice.apply(page)
            assert len(sent) == 1, sent
    assert page["items"] == []
    assert not page["has_more"]


SEEDED_TODOS = 20_000


@pytest.fixture
async def seeded(database_url: URL) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        **parse_database_url(url_string(database_url)).connect_kwargs
    )
    try:
        for user, rows in (("planner", SEEDED_TODOS), ("other", SEEDED_TODOS // 4)):
            for _ in range(10):  # ten transactions: ten change_xids
                await connection.execute(
                    "INSERT INTO todos (user_id, title) SELECT $1, 'todo ' || i"
                    " FROM generate_series(1, $2::int) AS i",
                    user,
                    rows // 10,
                )
            await connection.execute(
                "INSERT INTO lists (user_id, name) SELECT $1, 'list ' || i"
                " FROM generate_series(1, 500) AS i",
                user,
            )
            await connection.execute(
                "INSERT INTO tombstones (user_id, type, id) SELECT $1, 'todo', gen_random_uuid()"
                " FROM generate_series(1, 2000)",
                user,
            )
        for table in ("todos", "lists", "tombstones"):
            await connection.execute(f"VACUUM (ANALYZE) {table}")
        yield connection
    finally:
        await connection.close()


def _literal(value: object) -> str:
    """A parameter as an SQL literal, for EXECUTE."""
    if isinstance(value, tuple):  # a pg_snapshot
        xmin, xmax, xip = value
        text = f"{xmin}:{xmax}:{','.join(map(str, xip))}"
    elif isinstance(value, timedelta):
        text = f"{value.total_seconds()} seconds"
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_an_empty_poll_reads_one_index_range_of_each_table(
    seeded: asyncpg.Connection, app: FastAPI
) -> None:
    page = await feed.changes(
        database(app), "planner", since=None, limit=1, retention=timedelta(days=30)
    )
    while page.has_more:  # a client that has synced
        page = await feed.changes(
            database(app), "planner", since=page.next, limit=1000, retention=timedelta(days=30)
        )
    token = feed.decode_token(page.next, "planner")
    assert token.old is not None
    query = feed._page_query(feed._Shape(since=True, after=False))
    arguments = query.arguments(
        {
            "user_id": "planner",
            "limit": 101,
            "old": token.old.snapshot.value(),
            "horizon": token.old.snapshot.value(),
            "horizon_taken_at": token.old.at,
            "retention": timedelta(days=30),
        }
    )

    # Planned for these values, and as the generic plan a prepared statement may keep.
    types = [f"{t.schema}.{t.name}" for t in (await seeded.prepare(query.sql)).get_parameters()]
    given = ", ".join(f"{_literal(a)}::{t}" for a, t in zip(arguments, types, strict=True))
    await seeded.execute(f"PREPARE poll ({', '.join(types)}) AS {query.sql}")
    for mode in ("force_custom_plan", "force_generic_plan"):
        await seeded.execute(f"SET plan_cache_mode = {mode}")
        sql = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE poll({given})"
        plan = json.loads(await seeded.fetchval(sql))[0]
        nodes = _nodes(plan["Plan"])
        assert not [
            node
            for node in nodes
            if "Seq Scan" in node["Node Type"] or "Bitmap" in node["Node Type"]
        ], plan
        scans = {node["Index Name"]: node for node in nodes if "Index Name" in node}
        # Each table through its change_xid index, from S_old's xmin on; a list's counts
        # (never needed here: no list changed) would come from the todos' list index.
        assert set(scans) == {*FEED_INDEXES, "uq_todos_user_id_list_id_position"}, plan
        for name in FEED_INDEXES:
            assert "change_xid >=" in scans[name]["Index Cond"], plan
        # Next to nothing read: a few index pages, no row of the 30,000.
        blocks = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
        assert blocks < 20, plan
        assert all(scans[name]["Actual Rows"] == 0 for name in FEED_INDEXES), plan


FEED_INDEXES = (
    "ix_todos_user_id_change_xid_id",
    "ix_lists_user_id_change_xid_id",
    "ix_tombstones_user_id_change_xid_type_id",
)


# ---- the purge ---------------------------------------------------------------------------


async def test_the_purge_deletes_expired_tombstones_a_batch_at_a_time(
    app: FastAPI, client: httpx.AsyncClient, admin_engine: AsyncEngine
) -> None:
    todos = [await create_todo(client, user) for user in ("alice", "bob", "alice", "carol")]
    for todo in todos:
        assert (await client.delete(todo_url(todo["user_id"], todo["id"]))).status_code == 204
    async with admin_engine.connect() as connection:
        ages = [timedelta(days=days) for days in (40, 31, 30.02, 1)]  # 30.02: 29 minutes over
        for todo, age in zip(todos, ages, strict=True):
            await connection.execute(
                sa.text(
                    "UPDATE tombstones SET deleted_at = now() - CAST(:age AS interval)"
                    " WHERE id = CAST(:id AS uuid)"
                ),
                {"age": age, "id": todo["id"]},
            )

    retention = timedelta(days=30)
    assert await feed.purge_tombstones(database(app), retention, batch=1) == 1
    assert await feed.purge_tombstones(database(app), retention, batch=10) == 1
    assert await feed.purge_tombstones(database(app), retention, batch=10) == 0

    # Within retention, or within the margin after it: kept.
    assert {id_ for _, _, id_ in await _tombstones(admin_engine)} == {
        todos[2]["id"],
        todos[3]["id"],
    }


# ---- every UPDATE moves change_xid -------------------------------------------------------


def test_every_update_of_todos_and_lists_the_services_compile_moves_change_xid() -> None:
    """The respace of a move, the unlist of a list delete, the toggle, the bulk change and
    the PATCH of every field: all set change_xid, though none names it."""
    queries = [
        todos_service._TOGGLE,
        todos_service._update_query(tuple(todos_service._WRITABLE)),
        todos_service._update_query(("title",)),
        todos_service._bulk_update_query(("is_completed",), ()),
        lists_service._update_query(("name",)),
        lists_service._DELETES[lists_service.TodosOfDeletedList.UNLIST],
        *todo_moves._RESPACE.values(),
        *todo_moves._PLACE.values(),
    ]
    sql = [query.sql for query in queries]

    assert all(re.search(r"UPDATE (todos|lists) SET", statement) for statement in sql)
    assert updates_without_change_xid(sql) == []
    assert updates_without_change_xid(["UPDATE todos SET title=$1 WHERE todos.user_id = $2"]) != []
