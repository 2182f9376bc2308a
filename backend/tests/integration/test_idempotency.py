"""Idempotency keys: a retried create, bulk create, list create or move with the same key
is answered with the first response instead of being done again; another body with the
key is refused; concurrent repeats never execute twice; a key is its user's own; and a
create cut off by a real database crash, retried after recovery, leaves exactly one todo."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import make_settings, url_string
from tests.helpers import API, assert_error, assert_validation_error, todos_url
from tests.local_postgres import LocalPostgres, migrated_local_postgres
from todo_api.main import create_app
from todo_api.services.idempotency import purge_expired_keys

REPLAYED = "idempotent-replayed"


def lists_url(user_id: str) -> str:
    return f"{API}/users/{user_id}/lists"


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def count_todos(client: httpx.AsyncClient, user_id: str) -> int:
    response = await client.get(todos_url(user_id))
    assert response.status_code == 200
    count: int = response.json()["count"]
    return count


async def test_a_repeated_create_replays_the_first_response(client: httpx.AsyncClient) -> None:
    headers = key()
    first = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)
    again = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert await count_todos(client, "alice") == 1


async def test_the_replay_is_of_the_first_response_even_after_the_todo_changed(
    client: httpx.AsyncClient,
) -> None:
    headers = key()
    first = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)
    await client.patch(first.headers["location"], json={"title": "Oat milk"})

    again = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)

    assert again.json() == first.json()
    assert again.json()["title"] == "Milk"


async def test_the_same_request_in_other_json_spelling_is_a_replay(
    client: httpx.AsyncClient,
) -> None:
    headers = key()
    headers["Content-Type"] = "application/json"
    first = await client.post(
        todos_url("alice"), content=b'{"title":"Milk","priority":"low"}', headers=headers
    )
    again = await client.post(
        todos_url("alice"),
        content=b'{ "priority": "low",\n  "title": "Milk" }',
        headers=headers,
    )
    assert first.status_code == 201, first.text
    assert again.headers[REPLAYED] == "true"


async def test_a_key_quoted_as_a_structured_field_string_is_the_same_key(
    client: httpx.AsyncClient,
) -> None:
    bare = str(uuid.uuid4())
    first = await client.post(
        todos_url("alice"), json={"title": "Milk"}, headers={"Idempotency-Key": bare}
    )
    again = await client.post(
        todos_url("alice"), json={"title": "Milk"}, headers={"Idempotency-Key": f'"{bare}"'}
    )
    assert again.headers[REPLAYED] == "true"
    assert again.json() == first.json()


async def test_the_same_key_with_another_body_or_path_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    headers = key()
    await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)

    other_body = await client.post(todos_url("alice"), json={"title": "Bread"}, headers=headers)
    other_path = await client.post(
        f"{todos_url('alice')}/bulk", json={"todos": [{"title": "Milk"}]}, headers=headers
    )

    for response in (other_body, other_path):
        body = assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
        assert "Idempotency-Key" in body["detail"]
    assert await count_todos(client, "alice") == 1


async def test_keys_are_per_user(client: httpx.AsyncClient) -> None:
    headers = key()
    alice = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)
    bob = await client.post(todos_url("bob"), json={"title": "Milk"}, headers=headers)

    assert alice.status_code == bob.status_code == 201
    assert REPLAYED not in bob.headers
    assert bob.json()["user_id"] == "bob"
    assert await count_todos(client, "bob") == 1


async def test_bulk_create_list_create_and_move_replay_too(client: httpx.AsyncClient) -> None:
    bulk_key, list_key, move_key = key(), key(), key()
    bulk_body = {"todos": [{"title": "a"}, {"title": "b"}]}
    bulk = [
        await client.post(f"{todos_url('alice')}/bulk", json=bulk_body, headers=bulk_key)
        for _ in range(2)
    ]
    created_list = [
        await client.post(lists_url("alice"), json={"name": "Groceries"}, headers=list_key)
        for _ in range(2)
    ]
    todo = bulk[0].json()["items"][0]
    move_url = f"{todos_url('alice')}/{todo['id']}/move"
    move_body = {"list_id": created_list[0].json()["id"]}
    moves = [await client.post(move_url, json=move_body, headers=move_key) for _ in range(2)]

    for first, again in (bulk, created_list, moves):
        assert first.status_code in (200, 201), first.text
        assert (again.status_code, again.content) == (first.status_code, first.content)
        assert again.headers[REPLAYED] == "true"
    assert created_list[1].status_code == 201  # a replay, not a "name taken" 409
    assert await count_todos(client, "alice") == 2


async def test_a_refused_request_keeps_no_key_so_its_retry_runs_again(
    client: httpx.AsyncClient,
) -> None:
    headers = key()
    body = {"title": "Milk", "list_id": str(uuid.uuid4())}  # no such list

    for _ in range(2):
        response = await client.post(todos_url("alice"), json=body, headers=headers)
        assert_validation_error(response, "body.list_id")
        assert REPLAYED not in response.headers


async def test_a_bulk_create_naming_a_foreign_list_says_which_todo_with_a_key_too(
    client: httpx.AsyncClient,
) -> None:
    """In a keyed request the insert runs in a transaction, which its refusal would end
    but for a savepoint: the request must still answer which todo named the list."""
    body = {"todos": [{"title": "a"}, {"title": "b", "list_id": str(uuid.uuid4())}]}

    response = await client.post(f"{todos_url('alice')}/bulk", json=body, headers=key())

    assert_validation_error(response, "body.todos.1.list_id")
    assert await count_todos(client, "alice") == 0


@pytest.mark.parametrize("value", ["", "with space", '"unterminated', "x" * 256, 'a"b', "ключ"])
async def test_a_malformed_key_is_a_422_naming_the_header(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.post(
        todos_url("alice"),
        json={"title": "Milk"},
        headers={"Idempotency-Key": value.encode()},
    )

    assert_validation_error(response, "header.Idempotency-Key")
    assert await count_todos(client, "alice") == 0


async def test_20_concurrent_requests_with_one_key_execute_once(
    client: httpx.AsyncClient,
) -> None:
    headers = key()
    responses = await asyncio.gather(
        *(
            client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)
            for _ in range(20)
        )
    )

    originals = [response for response in responses if response.status_code == 201]
    in_progress = [response for response in responses if response.status_code == 409]
    assert len(originals) + len(in_progress) == 20
    assert originals
    assert len({response.content for response in originals}) == 1
    for response in in_progress:
        assert_error(response, 409, "CONFLICT")
    assert await count_todos(client, "alice") == 1


async def test_an_expired_key_is_a_new_request_and_is_purged(
    client: httpx.AsyncClient, admin_engine: AsyncEngine, app_database_url: str
) -> None:
    headers = key()
    first = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)
    async with admin_engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        )

    again = await client.post(todos_url("alice"), json={"title": "Milk"}, headers=headers)

    assert again.status_code == 201
    assert REPLAYED not in again.headers
    assert again.json()["id"] != first.json()["id"]
    async with admin_engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        )
    app = create_app(make_settings(app_database_url))
    async with app.router.lifespan_context(app):
        assert await purge_expired_keys(app.state.database, batch=10) == 1
    async with admin_engine.connect() as connection:
        left = await connection.scalar(sa.text("SELECT count(*) FROM idempotency_keys"))
    assert left == 0


# --- A real outage --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    with migrated_local_postgres(tmp_path_factory.mktemp("crash")) as postgres:
        yield postgres


@pytest.fixture
async def server_admin(server: LocalPostgres) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(server.url(), poolclass=sa.NullPool)
    yield engine
    await engine.dispose()
    if not server.running:
        server.start()


@pytest.mark.parametrize("blocked_table", ["todos", "idempotency_keys"])
async def test_a_create_cut_by_a_crash_then_retried_with_its_key_leaves_one_todo(
    server: LocalPostgres, server_admin: AsyncEngine, blocked_table: str, tmp_path: Path
) -> None:
    """The database crashes (stopped in `immediate` mode, as a power cut) while the
    create's statement is on the server: held up by a lock on the todos (the write sent,
    not yet done) or on the keys (the write done, its key not yet stored). Either way the
    client sees a 503, and its retry with the same key, once the database is back, makes
    exactly one todo."""
    app = create_app(make_settings(url_string(server.url()), db_statement_timeout=30))
    headers = key()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            blocker = await asyncpg.connect(
                server.url().set(drivername="postgresql").render_as_string()
            )
            await blocker.execute(f"BEGIN; LOCK TABLE {blocked_table} IN SHARE MODE")
            create = asyncio.create_task(
                client.post(todos_url("crash"), json={"title": "Milk"}, headers=headers)
            )
            await _until_waiting_on_a_lock(server_admin)
            await asyncio.to_thread(server.stop, "immediate")
            blocker.terminate()
            assert_error(await create, 503, "SERVICE_UNAVAILABLE")

            await asyncio.to_thread(server.start)
            retried = await client.post(todos_url("crash"), json={"title": "Milk"}, headers=headers)
            replayed = await client.post(
                todos_url("crash"), json={"title": "Milk"}, headers=headers
            )

            assert retried.status_code == 201, retried.text
            assert replayed.headers[REPLAYED] == "true"
            assert replayed.json() == retried.json()
            assert await count_todos(client, "crash") == 1
    await _forget(server_admin, "crash")


async def _until_waiting_on_a_lock(admin: AsyncEngine) -> None:
    async with admin.connect() as connection:
        for _ in range(200):
            waiting = await connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND application_name = 'todo-api'"
                )
            )
            if waiting:
                return
            await asyncio.sleep(0.025)
    raise AssertionError("the create never reached the server")


async def _forget(admin: AsyncEngine, user_id: str) -> None:
    async with admin.begin() as connection:
        await connection.execute(sa.text("DELETE FROM todos WHERE user_id = :u"), {"u": user_id})
        await connection.execute(
            sa.text("DELETE FROM idempotency_keys WHERE user_id = :u"), {"u": user_id}
        )
