"""How the app uses the database: one statement per request, always scoped to the user,
and every pooled connection given back."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import StatementLog, make_settings, unscoped_statements
from tests.helpers import create_todo, todo_url, todos_url
from tests.statements import observing
from todo_api.main import create_app


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


async def test_invalid_requests_send_no_statement(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    await client.post(todos_url("alice"), json={"title": ""})
    await client.get(todos_url("bad user"))
    await client.get(todo_url("alice", "not-a-uuid"))

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
