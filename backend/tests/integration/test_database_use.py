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
        one_list = "&list_id=none" if sort is Sort.POSITION else ""
        calls.append(("GET", f"{base}?sort={sort.value}&limit=1{one_list}", None))
        calls.append(("GET", f"{base}?sort={sort.value}&limit=1&{FILTERS}{one_list}", None))
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
            if sort is Sort.POSITION:
                params["list_id"] = "none"
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


# --- lists and moves -----------------------------------------------------------------------


def lists_url(user_id: str) -> str:
    return f"/api/v1/users/{user_id}/lists"


async def create_list(client: httpx.AsyncClient, user_id: str, name: str) -> str:
    response = await client.post(lists_url(user_id), json={"name": name})
    assert response.status_code == 201, response.text
    list_id: str = response.json()["id"]
    return list_id


def _app_statements(statements: list[str]) -> list[str]:
    return [sql for sql in statements if not is_driver_introspection(sql)]


# What each statement of a move is, by its shape: the transaction's brackets, the advisory
# lock, the reads and the writes (see services/todo_moves.py).
_MOVE_STATEMENTS = (
    ("BEGIN", re.compile(r"^BEGIN\b")),
    ("COMMIT", re.compile(r"^COMMIT\b")),
    ("ROLLBACK", re.compile(r"^ROLLBACK\b")),
    ("lock", re.compile(r"^SELECT pg_advisory_xact_lock\(")),
    ("own lists", re.compile(r"^SELECT lists\.id\s+FROM lists\b")),
    ("lock todo", re.compile(r"^SELECT todos\.title\b.*\bFROM todos\b.*\bFOR UPDATE\s*$", re.S)),
    ("current list", re.compile(r"^SELECT todos\.list_id\s+FROM todos\b")),
    ("neighbours", re.compile(r"^SELECT \(SELECT todos\.position\b")),
    ("respace", re.compile(r"^UPDATE todos SET position=.*\bFROM \(SELECT todos\.id\b", re.S)),
    ("place", re.compile(r"^UPDATE todos SET list_id=")),
)
# The advisory lock's key is the user and the list, both parameters.
_LOCK_KEY = re.compile(r"concat_ws\('/', \$1::VARCHAR, \$2::VARCHAR\)")


def _kinds(statements: list[str]) -> list[str]:
    kinds = []
    for sql in statements:
        kind = next((name for name, shape in _MOVE_STATEMENTS if shape.search(sql.strip())), None)
        assert kind is not None, f"a statement no move should send: {sql}"
        if kind == "lock":
            assert _LOCK_KEY.search(sql), sql
        kinds.append(kind)
    return kinds


def _scoped_on_both_tables(statements: list[str]) -> None:
    """Each reference to todos or lists carries its `user_id = $n`, and the statements
    touch nothing else but the transaction and the lock."""
    assert unscoped_statements(statements) == [], statements
    for sql in statements:
        for table in ("todos", "lists"):
            references = re.findall(rf"\b(?:FROM|UPDATE|JOIN)\s+{table}\b", sql, re.IGNORECASE)
            predicates = re.findall(rf"\b{table}\.user_id\s*=\s*\$\d+", sql)
            assert len(predicates) >= len(references), sql
        for columns in _ANY_INSERT.findall(sql):
            assert "user_id" in columns, sql


async def test_each_list_operation_sends_one_statement_scoped_to_the_user(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    """Every list operation, and the todo operations that name a list, is one statement,
    and each reference in it to either table is scoped to the path's user; the refusals
    too (another user's list, a duplicate name, a list that still holds todos)."""
    bobs = await create_list(client, "bob", "Bob's")
    await create_todo(client, "bob", list_id=bobs)
    work = await create_list(client, "alice", "Work")
    await create_list(client, "alice", "Home")
    todo = await create_todo(client, "alice", list_id=work)
    await create_todo(client, "alice", list_id=work, is_completed=True)
    cursor = (await client.get(lists_url("alice"), params={"limit": 1})).json()["next_cursor"]
    assert cursor is not None
    base, lists = todos_url("alice"), lists_url("alice")
    item = f"{lists}/{work}"
    calls: list[tuple[str, str, object, int]] = [
        ("POST", lists, {"name": "Errands"}, 201),
        ("POST", lists, {"name": "WORK"}, 409),
        ("GET", lists, None, 200),
        ("GET", f"{lists}?limit=1", None, 200),
        ("GET", f"{lists}?limit=1&cursor={cursor}", None, 200),
        ("GET", item, None, 200),
        ("GET", f"{lists}/{bobs}", None, 404),
        ("PATCH", item, {"name": "Work!"}, 200),
        ("PATCH", item, {"name": "home"}, 409),
        ("PATCH", item, {}, 200),
        ("PATCH", f"{lists}/{bobs}", {"name": "pwned"}, 404),
        ("DELETE", item, None, 409),
        ("DELETE", f"{lists}/{bobs}?todos=delete", None, 404),
        ("POST", base, {"title": "t", "list_id": work}, 201),
        ("POST", base, {"title": "t", "list_id": bobs}, 422),
        ("PATCH", todo_url("alice", todo["id"]), {"list_id": None}, 200),
        ("PATCH", todo_url("alice", todo["id"]), {"list_id": bobs}, 422),
        (
            "PUT",
            todo_url("alice", todo["id"]),
            {"title": "t", "description": None, "is_completed": False, "list_id": work},
            200,
        ),
        ("POST", f"{base}/bulk", {"todos": [{"title": "t", "list_id": work}] * 2}, 201),
        ("GET", f"{base}?list_id={work}&sort=position&limit=1", None, 200),
        ("GET", f"{base}?list_id=none&sort=position", None, 200),
        ("GET", f"{base}?list_id={work}&{FILTERS}", None, 200),
        ("GET", f"{base}/stats?list_id={work}", None, 200),
        ("PATCH", f"{base}?list_id={work}", {"priority": "high"}, 200),
        ("DELETE", f"{base}?list_id=none&is_completed=true", None, 200),
        ("DELETE", f"{item}?todos=unlist", None, 204),
        ("DELETE", f"{lists}/{await create_list(client, 'alice', 'Gone')}", None, 204),
    ]
    doomed = await create_list(client, "alice", "Doomed")
    await create_todo(client, "alice", list_id=doomed)
    calls.append(("DELETE", f"{lists}/{doomed}?todos=delete", None, 204))
    for method, path, body, status in calls:
        statements.clear()
        response = await client.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
        sent = _app_statements(statements)
        assert len(sent) == 1, (method, path, sent)
        assert re.search(r"\b(?:todos|lists)\b", sent[0]), sent
        _scoped_on_both_tables(sent)
    bob = (await client.get(lists_url("bob"))).json()["items"]
    assert [(b["name"], b["todo_count"]) for b in bob] == [("Bob's", 1)]


async def test_a_bulk_create_refused_for_another_users_list_is_two_scoped_statements(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    """The foreign key refuses the insert; a second statement, on the user's own lists,
    finds which todo named a list not theirs."""
    bobs = await create_list(client, "bob", "Bob's")
    body = {"todos": [{"title": "a"}, {"title": "b", "list_id": bobs}]}
    statements.clear()

    response = await client.post(f"{todos_url('alice')}/bulk", json=body)

    assert response.status_code == 422, response.text
    sent = _app_statements(statements)
    assert len(sent) == 2, sent
    assert sent[0].lstrip().startswith("WITH") or "INSERT INTO todos" in sent[0], sent
    assert _kinds(sent[1:]) == ["own lists"]
    _scoped_on_both_tables(sent)


async def test_a_move_is_one_short_transaction_of_scoped_statements(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    """A move: the todo's list read (when the body does not name one), the list checked
    to be the user's (unless it is none), then one transaction: the lock on the target
    list, the todo locked, its neighbours read (when it has any), and the one UPDATE
    placing it. Each statement on a table is scoped to the user, and refusals stop early,
    rolled back."""
    work = await create_list(client, "alice", "Work")
    bobs = await create_list(client, "bob", "Bob's")
    first, second, moved = [await create_todo(client, "alice", list_id=work) for _ in range(3)]
    loose = await create_todo(client, "alice")
    bobs_todo = await create_todo(client, "bob", list_id=bobs)
    moves: list[tuple[str, dict[str, object], int, list[str]]] = [
        (
            moved["id"],
            {"list_id": work, "after": first["id"]},
            200,
            ["own lists", "BEGIN", "lock", "lock todo", "neighbours", "place", "COMMIT"],
        ),
        (
            moved["id"],
            {"before": first["id"]},
            200,
            [
                "current list",
                "own lists",
                "BEGIN",
                "lock",
                "lock todo",
                "neighbours",
                "place",
                "COMMIT",
            ],
        ),
        (
            moved["id"],
            {"after": first["id"], "before": second["id"]},
            200,
            [
                "current list",
                "own lists",
                "BEGIN",
                "lock",
                "lock todo",
                "neighbours",
                "place",
                "COMMIT",
            ],
        ),
        (
            moved["id"],
            {},
            200,
            ["current list", "own lists", "BEGIN", "lock", "lock todo", "place", "COMMIT"],
        ),
        (
            moved["id"],
            {"list_id": None, "before": loose["id"]},
            200,
            ["BEGIN", "lock", "lock todo", "neighbours", "place", "COMMIT"],
        ),
        # Refused: another user's list, another user's todo, another user's neighbour.
        (moved["id"], {"list_id": bobs}, 422, ["own lists"]),
        (bobs_todo["id"], {}, 404, ["current list"]),
        (bobs_todo["id"], {"list_id": None}, 404, ["BEGIN", "lock", "lock todo", "ROLLBACK"]),
        (
            moved["id"],
            {"list_id": None, "after": bobs_todo["id"]},
            422,
            ["BEGIN", "lock", "lock todo", "neighbours", "ROLLBACK"],
        ),
        (moved["id"], {"after": moved["id"]}, 422, ["current list"]),
    ]
    for todo_id, body, status, expected in moves:
        statements.clear()
        response = await client.post(f"{todo_url('alice', todo_id)}/move", json=body)
        assert response.status_code == status, (body, response.text)
        sent = _app_statements(statements)
        assert _kinds(sent) == expected, (body, sent)
        _scoped_on_both_tables(sent)
    order = await client.get(todos_url("bob"), params={"list_id": bobs, "sort": "position"})
    assert [t["id"] for t in order.json()["items"]] == [bobs_todo["id"]]


async def test_a_move_that_respaces_its_list_stays_in_one_transaction_scoped_to_the_user(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    """Moves always into the same gap use it up; the move that finds no room respaces the
    list (one UPDATE of the user's todos in that list) and reads the neighbours again,
    all in its one transaction."""
    work = await create_list(client, "alice", "Work")
    bobs = await create_list(client, "bob", "Work")
    await create_todo(client, "bob", list_id=bobs)
    anchor = await create_todo(client, "alice", list_id=work)
    todos = [await create_todo(client, "alice", list_id=work) for _ in range(40)]
    respacing = None
    for todo in todos:
        statements.clear()
        response = await client.post(
            f"{todo_url('alice', todo['id'])}/move", json={"after": anchor["id"]}
        )
        assert response.status_code == 200, response.text
        sent = _app_statements(statements)
        _scoped_on_both_tables(sent)
        if "respace" in _kinds(sent):
            respacing = sent
            break
    assert respacing is not None, "40 moves into one gap never respaced the list"
    assert _kinds(respacing) == [
        "current list",
        "own lists",
        "BEGIN",
        "lock",
        "lock todo",
        "neighbours",
        "respace",
        "neighbours",
        "place",
        "COMMIT",
    ]
    bob = (await client.get(lists_url("bob"))).json()["items"]
    assert [(b["id"], b["todo_count"]) for b in bob] == [(bobs, 1)]
