"""How the app uses the database: one statement per request, always scoped to the user,
and every pooled connection given back."""

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import StatementLog, make_settings, unscoped_statements
from tests.helpers import create_todo, todo_url, todos_url
from tests.statements import is_driver_introspection, observing
from todo_api.main import create_app
from todo_api.models.todos import Sort

FILTERS = (
    "is_completed=false&q=t&priority=high&priority=none&tag=Home&tag=x"
    "&due_before=2030-01-01T00:00:00Z&due_after=2020-01-01T00:00:00%2B02:00&overdue=false"
)
# Anywhere in a statement (a CTE too): an INSERT INTO todos and its column list.
_ANY_INSERT = re.compile(r"\bINSERT\s+INTO\s+todos\s*\(([^)]*)\)", re.IGNORECASE)


@pytest.fixture
async def statements(app: FastAPI) -> AsyncIterator[list[str]]:
    """The SQL the app sends while the test runs."""
    sent: list[str] = []
    async with observing(sent.append):
        yield sent


async def test_each_endpoint_sends_exactly_one_statement(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    todo = await create_todo(client, "alice")
    url = todo_url("alice", todo["id"])
    calls = [
        ("POST", todos_url("alice"), {"title": "t"}),
        ("GET", todos_url("alice") + "?q=t&is_completed=false&limit=1", None),
        ("GET", url, None),
        ("PUT", url, {"title": "t", "description": None, "is_completed": True}),
        ("PATCH", url, {"title": "u"}),
        ("PATCH", url, {}),
        ("PATCH", url + "/complete", None),
        ("DELETE", url, None),
        ("GET", url, None),  # now a 404: still one statement
    ]
    for method, path, body in calls:
        statements.clear()
        response = await client.request(method, path, json=body)
        assert response.status_code < 500
        assert len(statements) == 1, (method, path, statements)


def _collection_calls(user: str) -> list[tuple[str, str, object]]:
    """A request of every collection operation: bulk create, bulk change, bulk delete,
    stats, and the list in each sort, with and without every filter."""
    base = todos_url(user)
    todos = [{"title": "t", "priority": "high", "tags": ["home"], "due_at": "2026-11-27T17:00:00Z"}]
    calls: list[tuple[str, str, object]] = [
        ("POST", f"{base}/bulk", {"todos": todos * 3}),
        ("PATCH", base, {"is_completed": True}),
        ("PATCH", f"{base}?is_completed=true", {"is_completed": False}),
        ("PATCH", f"{base}?{FILTERS}", {"priority": "low", "tags": ["a", "B"]}),
        ("PATCH", f"{base}?tag=home", {"tags": ["x"], "priority": "medium", "is_completed": True}),
        ("GET", f"{base}/stats", None),
        ("GET", f"{base}/stats?tz=Europe/Paris&{FILTERS}", None),
        ("GET", f"{base}/stats?overdue=true&tz=Pacific/Kiritimati", None),
        ("DELETE", f"{base}?{FILTERS}", None),
        ("DELETE", f"{base}?is_completed=true&priority=low", None),
    ]
    for sort in Sort:
        calls.append(("GET", f"{base}?sort={sort.value}&limit=1", None))
        calls.append(("GET", f"{base}?sort={sort.value}&limit=1&{FILTERS}", None))
    return calls


async def test_each_collection_operation_sends_exactly_one_statement_scoped_to_the_user(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    """One round trip per request for the collection operations too, whatever the filters
    and sort, and each statement reaches only the path's user's rows."""
    for user in ("alice", "bob"):
        for _ in range(3):
            await create_todo(client, user, tags=["Home"], priority="high")
    for method, path, body in _collection_calls("alice"):
        statements.clear()
        response = await client.request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.text)
        # asyncpg looks up a parameter type it has no codec for once per connection (the
        # first tag filter on each pooled connection); the app's own statement is one.
        statements[:] = [sql for sql in statements if not is_driver_introspection(sql)]
        assert len(statements) == 1, (method, path, statements)
        assert re.search(r"\btodos\b", statements[0]), statements
        assert unscoped_statements(statements) == [], (method, path)
        for columns in _ANY_INSERT.findall(statements[0]):
            assert "user_id" in columns, statements[0]
    bob = (await client.get(todos_url("bob"))).json()
    assert bob["count"] == 3
    assert {(t["priority"], tuple(t["tags"])) for t in bob["items"]} == {("high", ("Home",))}


async def test_every_page_after_a_cursor_is_one_statement_in_each_sort(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    for index in range(3):
        await create_todo(
            client,
            "alice",
            priority=["low", "high", "low"][index],
            due_at=[None, "2026-11-27T17:00:00Z", "2026-11-28T17:00:00Z"][index],
        )
    for sort in Sort:
        cursor = None
        pages = 0
        while True:
            params = {"sort": sort.value, "limit": 1, **({"cursor": cursor} if cursor else {})}
            statements.clear()
            page = (await client.get(todos_url("alice"), params=params)).json()
            assert len(statements) == 1, (sort, statements)
            assert unscoped_statements(statements) == []
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert pages < 3, sort
        assert pages == 3, sort


async def test_the_bulk_insert_names_user_id_from_a_parameter(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    """The bulk create's INSERT sits in a CTE, where the suite's audit (which anchors
    INSERTs at the start) does not look: its user_id must be a parameter, not a column of
    the client's JSON rows."""
    response = await client.post(
        f"{todos_url('alice')}/bulk",
        json={"todos": [{"title": "a", "user_id": "bob"}, {"title": "b"}]},
    )

    assert response.status_code == 201, response.text
    assert {item["user_id"] for item in response.json()["items"]} == {"alice"}
    (statement,) = statements
    (columns,) = _ANY_INSERT.findall(statement)
    assert columns.split(",")[0].strip() == "user_id", statement
    assert re.search(r"SELECT\s+\$\d+(::VARCHAR)?\s*(AS \w+\s*)?,", statement), statement
    assert (await client.get(todos_url("bob"))).json()["count"] == 0


async def test_invalid_requests_send_no_statement(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    await client.post(todos_url("alice"), json={"title": ""})
    await client.get(todos_url("bad user"))
    await client.get(todo_url("alice", "not-a-uuid"))
    todo = await create_todo(client, "alice")
    await create_todo(client, "alice")
    cursor = (await client.get(todos_url("alice"), params={"limit": 1})).json()["next_cursor"]
    statements.clear()
    refused = [
        ("POST", f"{todos_url('alice')}/bulk", {"todos": [{"title": "t"}] * 101}),
        ("POST", f"{todos_url('alice')}/bulk", {"todos": [{"title": "t"}, {"title": ""}]}),
        ("PATCH", todos_url("alice"), {}),
        ("PATCH", f"{todos_url('alice')}?user=bob", {"is_completed": True}),
        ("DELETE", todos_url("alice"), None),
        ("DELETE", f"{todos_url('alice')}?q=", None),
        ("GET", f"{todos_url('alice')}/stats?tz=Mars/Olympus", None),
        ("GET", f"{todos_url('alice')}?sort=due_at&order=asc", None),
        ("GET", f"{todos_url('alice')}?sort=due_at&cursor={cursor}", None),
        ("GET", f"{todos_url('bob')}?cursor={cursor}", None),
        ("PATCH", todo_url("alice", todo["id"]), {"tags": ["x" * 41]}),
    ]
    for method, path, body in refused:
        response = await client.request(method, path, json=body)
        assert response.status_code == 422, (method, path, response.text)

    assert statements == []


async def test_the_sql_audit_sees_the_apps_statements(
    client: httpx.AsyncClient, sql_audit: StatementLog
) -> None:
    before = len(sql_audit.todos)

    await create_todo(client, "alice")

    assert len(sql_audit.todos) == before + 1
    assert sql_audit.todos[-1].startswith("INSERT INTO todos")


def test_the_sql_audit_flags_a_statement_without_the_user_predicate() -> None:
    scoped = "SELECT todos.id FROM todos WHERE todos.user_id = $1::VARCHAR AND todos.id = $2"
    unscoped = "SELECT todos.id FROM todos WHERE todos.id = $1::UUID"
    half = f"SELECT (SELECT count(*) FROM todos), x FROM ({scoped}) AS page"

    assert unscoped_statements([scoped]) == []
    assert unscoped_statements([unscoped, half]) == [unscoped, half]
    assert unscoped_statements(["INSERT INTO todos (title) VALUES ($1)"]) != []


async def test_the_pool_is_idle_after_a_burst_including_failures(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    todo = await create_todo(client, "alice")
    requests = []
    for i in range(60):
        requests += [
            client.post(todos_url(f"user{i % 7}"), json={"title": f"t{i}"}),
            client.get(todos_url(f"user{i % 7}")),
            client.get(todo_url("bob", todo["id"])),  # 404
            client.patch(todo_url("alice", todo["id"]), json={"title": None}),  # 422
            client.patch(todo_url("alice", todo["id"]) + "/complete"),
        ]

    responses = await asyncio.gather(*requests)

    assert {response.status_code for response in responses} == {200, 201, 404, 422}
    pool = app.state.database.pool
    assert pool.get_size() > 1
    assert pool.get_idle_size() == pool.get_size()


async def test_clients_waiting_for_a_pooled_connection_are_served_in_turn(
    app_database_url: str,
) -> None:
    """More clients than pooled connections, each sending its next request as soon as the
    last is answered, as wrk or a busy front end does. With waiting in arrival order, no
    other client is answered more than three times while one request is under way: a
    request of its already in flight, one queued ahead, and one on the other connection
    while this one is answered. asyncpg's pool alone lets a request that has just arrived
    take a connection given back ahead of those waiting, and an unlucky request is passed
    over again and again (3 to 6 answers to one other client here; 1 in turn)."""
    clients, pool_size, requests = 32, 2, 640
    app = create_app(make_settings(app_database_url, db_pool_size=pool_size))
    answered: list[int] = []
    passed_over = 0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            todo = await create_todo(client, "alice")

            async def keep_asking(number: int) -> None:
                nonlocal passed_over
                while len(answered) < requests:
                    sent_after = len(answered)
                    response = await client.get(todo_url("alice", todo["id"]))
                    assert response.status_code == 200
                    meanwhile = Counter(answered[sent_after:])
                    passed_over = max(passed_over, *meanwhile.values(), 0)
                    answered.append(number)

            await asyncio.gather(*(keep_asking(number) for number in range(clients)))

    assert len(set(answered)) == clients
    assert passed_over <= 3
