"""Two replicas of the API: two `todo-api serve` processes (two workers each, sharing one
TMPDIR), both through the real PgBouncer in transaction pooling, over one PostgreSQL
database migrated by `todo-api migrate` through the same pooler, as docker-compose.yml
runs them behind nginx. Nothing the API promises depends on which replica answers:

- an Idempotency-Key used on one replica is honoured on the other, byte for byte, and
  concurrent requests with one key split across both execute once;
- ETags are the same from both, and If-Match is checked against the database, so a tag
  gone stale through one replica is a 412 on the other;
- the change feed, paged alternately through both while writers use both, leaves a
  client's copy exactly equal to the server's todos and lists;
- each replica's /metrics counts its own requests only (its workers summed), never the
  other's.

specs/scaling.md (Replicas) says what this shows and how the compose file scales."""

import asyncio
import random
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.external.conftest import Services, require_services
from tests.feed_copy import (
    MAX_PAGES,
    State,
    changes_url,
    counts_from_todos,
    lists_url,
    server_state,
    without_counts,
)
from tests.helpers import assert_error, todo_url, todos_url
from tests.processes import ApiProcess, command_env, todo_api
from tests.scrape import value

require_services()

WORKERS = 2  # per replica: its scrape sums these two, and only these
POOL_SIZE = 3  # per worker; PgBouncer multiplexes the 12 onto its few server connections
TODO_ROUTE = "/api/v1/users/{user_id}/todos/{todo_id}"


@dataclass(frozen=True)
class Replicas:
    a: httpx.AsyncClient
    b: httpx.AsyncClient

    def both(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        return self.a, self.b


@pytest.fixture(scope="module")
async def replicas(
    services: Services, databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Replicas]:
    """A fresh database, migrated through PgBouncer, and two replicas serving it."""
    empty = await databases.create(migrated=False)
    cwd = tmp_path_factory.mktemp("replicas")
    env = command_env(
        DATABASE_URL=services.on(services.pgbouncer_url, empty.database),
        DB_POOLED="true",
        DB_POOL_SIZE=str(POOL_SIZE),
        WEB_CONCURRENCY=str(WORKERS),
        LOG_LEVEL="WARNING",
        TMPDIR=str(cwd),  # both replicas' metrics directories side by side
    )
    migrated = await asyncio.to_thread(todo_api, "migrate", env=env, cwd=cwd)
    assert migrated.returncode == 0, migrated.stderr

    with ApiProcess("serve", env, cwd) as a, ApiProcess("serve", env, cwd) as b:
        assert a.port != b.port
        await asyncio.gather(
            asyncio.to_thread(a.wait_until_live, path="/health/ready"),
            asyncio.to_thread(b.wait_until_live, path="/health/ready"),
        )
        async with (
            httpx.AsyncClient(base_url=a.base_url, trust_env=False, timeout=30) as client_a,
            httpx.AsyncClient(base_url=b.base_url, trust_env=False, timeout=30) as client_b,
        ):
            yield Replicas(client_a, client_b)
        statuses = (a.stop(), b.stop())
        assert set(statuses) <= {0, 128 + signal.SIGTERM}, (a.output, b.output)


def new_user() -> str:
    return f"replica-{uuid.uuid4().hex[:12]}"


async def count_todos(client: httpx.AsyncClient, user_id: str) -> int:
    response = await client.get(todos_url(user_id), params={"limit": 100})
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


# ---- idempotency keys ---------------------------------------------------------------------


async def test_a_keyed_create_on_one_replica_is_replayed_byte_for_byte_by_the_other(
    replicas: Replicas,
) -> None:
    user, headers = new_user(), {"Idempotency-Key": str(uuid.uuid4())}
    body = {"title": "Milk", "tags": ["shop"]}

    first = await replicas.a.post(todos_url(user), json=body, headers=headers)
    again = await replicas.b.post(todos_url(user), json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    for header in ("location", "etag", "content-type"):
        assert again.headers[header] == first.headers[header]
    assert await count_todos(replicas.a, user) == await count_todos(replicas.b, user) == 1


async def test_concurrent_requests_with_one_key_split_across_replicas_execute_once(
    replicas: Replicas,
) -> None:
    user, headers = new_user(), {"Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(
            replicas.both()[n % 2].post(todos_url(user), json={"title": "Once"}, headers=headers)
            for n in range(10)
        )
    )

    answered = [response for response in responses if response.status_code == 201]
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 409, "CONFLICT")
            assert "retry-after" in response.headers
    assert answered
    assert len({response.content for response in answered}) == 1  # the original, or its replay
    assert await count_todos(replicas.a, user) == await count_todos(replicas.b, user) == 1
    # Once the first has finished, a retry on either replica is a replay of it.
    for client in replicas.both():
        retry = await client.post(todos_url(user), json={"title": "Once"}, headers=headers)
        assert retry.status_code == 201
        assert retry.content == answered[0].content


# ---- ETags --------------------------------------------------------------------------------


async def test_etags_agree_across_replicas_and_a_tag_made_stale_on_one_is_a_412_on_the_other(
    replicas: Replicas,
) -> None:
    user = new_user()
    created = await replicas.a.post(todos_url(user), json={"title": "Tagged"})
    assert created.status_code == 201, created.text
    path = todo_url(user, created.json()["id"])

    on_a, on_b = await replicas.a.get(path), await replicas.b.get(path)
    assert on_a.headers["etag"] == on_b.headers["etag"] == created.headers["etag"]
    assert on_a.content == on_b.content
    not_modified = await replicas.a.get(path, headers={"If-None-Match": on_b.headers["etag"]})
    assert not_modified.status_code == 304

    patched = await replicas.a.patch(
        path, json={"title": "Changed on A"}, headers={"If-Match": on_b.headers["etag"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] != on_b.headers["etag"]

    stale = await replicas.b.patch(
        path, json={"title": "Lost on B"}, headers={"If-Match": on_b.headers["etag"]}
    )
    assert_error(stale, 412, "PRECONDITION_FAILED")
    assert stale.headers["etag"] == patched.headers["etag"]
    now = await replicas.b.get(path)
    assert now.json()["title"] == "Changed on A"
    assert now.headers["etag"] == patched.headers["etag"]
    assert (
        await replicas.b.get(path, headers={"If-None-Match": patched.headers["etag"]})
    ).status_code == 304


async def test_of_two_writers_on_two_replicas_holding_one_tag_exactly_one_wins(
    replicas: Replicas,
) -> None:
    user = new_user()
    created = await replicas.a.post(todos_url(user), json={"title": "Contended"})
    path, tag = todo_url(user, created.json()["id"]), created.headers["etag"]

    for round_ in range(5):
        results = await asyncio.gather(
            *(
                client.patch(path, json={"title": f"{name} {round_}"}, headers={"If-Match": tag})
                for name, client in zip("AB", replicas.both(), strict=True)
            )
        )
        assert sorted(response.status_code for response in results) == [200, 412]
        [winner] = [response for response in results if response.status_code == 200]
        tag = winner.headers["etag"]
        assert (await replicas.b.get(path)).json() == winner.json()


# ---- the change feed ------------------------------------------------------------------------


class SyncingClient:
    """A client keeping a copy of one user's todos and lists, each page asked of the next
    replica in turn: every token it sends was issued by the other replica."""

    def __init__(self, replicas: Replicas, user_id: str, *, limit: int) -> None:
        self.replicas = replicas.both()
        self.user_id = user_id
        self.limit = limit
        self.state: State = {}
        self.token: str | None = None
        self.pages = 0
        self.passes = 0
        self.paged_passes = 0  # passes of more than one page, so through both replicas
        self.tombstones = 0

    async def sync(self) -> int:
        """One whole pass, following has_more; the number of items received."""
        received = 0
        for number in range(MAX_PAGES):
            http = self.replicas[self.pages % 2]
            self.pages += 1
            params: dict[str, Any] = {"limit": self.limit}
            if self.token is not None:
                params["since"] = self.token
            response = await http.get(changes_url(self.user_id), params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= self.limit
            for item in page["items"]:
                key = (item["type"], item["id"])
                if item["deleted_at"] is None:
                    self.state[key] = item["data"]
                else:
                    self.tombstones += 1
                    self.state.pop(key, None)
            received += len(page["items"])
            self.token = page["next"]
            if not page["has_more"]:
                self.passes += 1
                self.paged_passes += number > 0
                return received
        raise AssertionError("the pass never ended")


class Writer:
    """Random writes of most kinds to one user's todos and lists, through one replica."""

    def __init__(self, http: httpx.AsyncClient, user_id: str, seed: int) -> None:
        self.http = http
        self.user_id = user_id
        self.random = random.Random(seed)  # noqa: S311  (repeatable, not secret)
        self.todos: list[str] = []
        self.lists: list[str] = []
        self.statuses: list[int] = []

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code < 500, (method, url, response.text)
        self.statuses.append(response.status_code)
        return response

    def _pick(self, ids: list[str]) -> str | None:
        return self.random.choice(ids) if ids else None

    async def step(self, number: int) -> None:
        todos, lists = todos_url(self.user_id), lists_url(self.user_id)
        todo, todo_list = self._pick(self.todos), self._pick(self.lists)
        actions: list[tuple[float, Callable[[], Any]]] = []

        async def create() -> None:
            body: dict[str, Any] = {"title": f"todo {number}", "tags": ["doomed"][: number % 2]}
            if todo_list is not None and self.random.random() < 0.5:
                body["list_id"] = todo_list
            keyed = {"Idempotency-Key": f"k-{self.user_id}-{number}"}
            response = await self._send("POST", todos, json=body, headers=keyed)
            if response.status_code == 201:
                self.todos.append(response.json()["id"])

        async def bulk() -> None:
            items = [{"title": f"bulk {number}.{i}", "tags": ["doomed"]} for i in range(3)]
            response = await self._send("POST", f"{todos}/bulk", json={"todos": items})
            if response.status_code == 201:
                self.todos += [item["id"] for item in response.json()["items"]]

        async def patch() -> None:
            done = self.random.random() < 0.5
            await self._send(
                "PATCH", f"{todos}/{todo}", json={"title": f"p {number}", "is_completed": done}
            )

        async def conditional() -> None:
            current = await self.http.get(f"{todos}/{todo}")
            if current.status_code == 200:
                tag = {"If-Match": current.headers["etag"]}
                await self._send("PATCH", f"{todos}/{todo}", json={"priority": "high"}, headers=tag)

        async def toggle() -> None:
            await self._send("PATCH", f"{todos}/{todo}/complete")

        async def delete() -> None:
            await self._send("DELETE", f"{todos}/{todo}")

        async def bulk_delete() -> None:
            await self._send("DELETE", f"{todos}?tag=doomed&is_completed=true")

        async def move() -> None:
            target = todo_list if self.random.random() < 0.7 else None
            await self._send("POST", f"{todos}/{todo}/move", json={"list_id": target})

        async def create_list() -> None:
            response = await self._send("POST", lists, json={"name": f"l {self.user_id} {number}"})
            if response.status_code == 201:
                self.lists.append(response.json()["id"])

        async def rename_list() -> None:
            name = {"name": f"r {self.user_id} {number}"}
            await self._send("PATCH", f"{lists}/{todo_list}", json=name)

        async def delete_list() -> None:
            what = self.random.choice(["delete", "unlist"])
            await self._send("DELETE", f"{lists}/{todo_list}?todos={what}")

        actions.append((0.30, create))
        if todo is not None:
            actions += [
                (0.08, bulk),
                (0.14, patch),
                (0.06, conditional),
                (0.07, toggle),
                (0.08, delete),
                (0.03, bulk_delete),
                (0.07, move),
            ]
        actions.append((0.07, create_list))
        if todo_list is not None:
            actions += [(0.05, rename_list), (0.03, delete_list)]
        weights = [weight for weight, _ in actions]
        [(_, action)] = self.random.choices(actions, weights=weights)
        await action()

    async def run(self, steps: int, start: int) -> None:
        for number in range(start, start + steps):
            await self.step(number)


@pytest.mark.timeout(180)
async def test_the_change_feed_paged_across_replicas_under_writes_on_both_ends_exact(
    replicas: Replicas,
) -> None:
    user = new_user()
    writers = [Writer(replicas.both()[n % 2], user, seed) for n, seed in enumerate(range(4))]
    client = SyncingClient(replicas, user, limit=5)

    writing = asyncio.gather(
        *(writer.run(40, 1000 * index) for index, writer in enumerate(writers))
    )
    while not writing.done():
        await client.sync()
    await writing
    await client.sync()  # once the writers have stopped

    on_a, on_b = await server_state(replicas.a, user), await server_state(replicas.b, user)
    assert on_a == on_b
    assert without_counts(client.state) == without_counts(on_a)
    assert counts_from_todos(client.state) == {
        key[1]: (item["todo_count"], item["open_count"])
        for key, item in on_a.items()
        if key[0] == "list"
    }
    assert client.passes > 3  # it really synced while the writes went on
    assert client.paged_passes  # some passes followed has_more from one replica to the other
    assert client.tombstones  # deletions came as tombstones
    statuses = [status for writer in writers for status in writer.statuses]
    assert statuses.count(200) + statuses.count(201) + statuses.count(204) > 100
    assert await client.sync() == 0


# ---- metrics ------------------------------------------------------------------------------


def count_of(text: str, **labels: str) -> float:
    try:
        return value(text, "todo_api_http_requests_total", **labels)
    except KeyError:  # not yet a series
        return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics", headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    return response.text


async def test_each_replica_counts_its_own_requests_only(replicas: Replicas) -> None:
    """N requests to A and M to B, each on a new connection (so both workers of a replica
    answer some): A's scrape grows by N, B's by M, whichever worker answers it."""
    labels = {"method": "GET", "route": TODO_ROUTE, "status": "404"}
    sent = {"a": 13, "b": 7}
    clients = dict(zip("ab", replicas.both(), strict=True))
    before = {name: count_of(await scrape(client), **labels) for name, client in clients.items()}

    missing = todo_url(new_user(), str(uuid.uuid4()))
    responses = await asyncio.gather(
        *(
            clients[name].get(missing, headers={"Connection": "close"})
            for name, n in sent.items()
            for _ in range(n)
        )
    )
    assert {response.status_code for response in responses} == {404}

    for name, client in clients.items():
        for _ in range(6):  # several scrapes: either worker may answer any of them
            text = await scrape(client)
            assert count_of(text, **labels) - before[name] == sent[name], name
            assert value(text, "todo_api_db_pool_size") <= WORKERS * POOL_SIZE
