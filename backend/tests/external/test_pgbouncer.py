"""Through a real PgBouncer (Debian's 1.18) in pool_mode = transaction, with TLS for its
clients and fewer server connections than the app opens, as Neon's pooler.

Pooled mode sends only unnamed statements, whose Parse and Bind travel in one
transaction, and no startup parameter PgBouncer refuses: nothing breaks under
concurrency. The controls show that the same load with asyncpg's statement cache does
break here, and that direct mode is refused, so these tests would catch a regression."""

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DatabaseFactory, make_settings
from tests.external.conftest import Services, require_services
from tests.helpers import todo_url, todos_url
from tests.load import Load, take_away_under
from tests.processes import ApiProcess, command_env, todo_api
from todo_api.db.database import APPLICATION_NAME, Database, Query, cancel_grace, pool_options
from todo_api.db.migrate import head_revision
from todo_api.db.url import parse_database_url
from todo_api.errors import DatabaseUnavailable
from todo_api.main import create_app

require_services()

CLIENTS = 20  # the app's connections to PgBouncer, several times its server connections


@pytest.fixture(scope="module")
def pooled_url(services: Services, database_url: URL) -> str:
    return services.on(services.pgbouncer_url, database_url.database)


async def _client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _server_connections(admin_engine: AsyncEngine) -> int:
    """PgBouncer's connections to PostgreSQL for the app (PgBouncer passes the app's
    application_name on)."""
    async with admin_engine.connect() as connection:
        count = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": APPLICATION_NAME},
        )
    return int(count or 0)


async def _mixed_requests(client: httpx.AsyncClient, rounds: int) -> list[httpx.Response]:
    """Every endpoint, every statement variant, all at once."""
    created = await asyncio.gather(
        *(client.post(todos_url(f"bouncer-{n}"), json={"title": f"t{n}"}) for n in range(10))
    )
    paths = [todo_url(r.json()["user_id"], r.json()["id"]) for r in created]
    calls: list[Any] = []
    for i in range(rounds):
        path, user = paths[i % 10], f"bouncer-{i % 10}"
        calls += [
            client.post(todos_url(user), json={"title": f"n{i}", "description": "d"}),
            client.get(todos_url(user) + f"?limit={1 + i % 5}&order={('asc', 'desc')[i % 2]}"),
            client.get(todos_url(user) + f"?q=t&is_completed={('true', 'false')[i % 2]}"),
            client.get(path),
            client.patch(path, json=[{"title": f"p{i}"}, {"description": None}][i % 2]),
            client.put(path, json={"title": f"r{i}", "description": "x", "is_completed": False}),
            client.patch(path + "/complete"),
            client.get(todo_url(user, "00000000-0000-4000-8000-000000000000")),  # 404
        ]
    return list(await asyncio.gather(*calls))


async def test_concurrent_requests_through_pgbouncer_in_pooled_mode_all_succeed(
    pooled_url: str, services: Services, admin_engine: AsyncEngine
) -> None:
    app = create_app(make_settings(pooled_url, db_pooled=True, db_pool_size=CLIENTS))
    async for client in _client_for(app):
        responses = await _mixed_requests(client, rounds=60)

        statuses = {response.status_code for response in responses}
        assert statuses == {200, 201, 404}, [r.text for r in responses if r.status_code >= 500][:3]
        # More clients than PgBouncer has server connections, all at once.
        assert app.state.database.pool.get_size() == CLIENTS
        assert 0 < await _server_connections(admin_engine) <= services.pgbouncer_pool_size


async def test_control_the_same_load_with_a_statement_cache_breaks_through_pgbouncer(
    pooled_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncpg's cached, named statements (direct mode's setting) outlive the transaction
    that prepared them, on whichever server connection PgBouncer picked. A pooler the
    settings did not declare (PgBouncer told to ignore statement_timeout, on a host not
    named -pooler) then loses statements: each such request is a DatabaseUnavailable (a
    503, not a 500), and the log says once to set DB_POOLED."""
    target = parse_database_url(pooled_url)
    database = Database(
        dict(target.connect_kwargs), max_size=CLIENTS, acquire_timeout=10, statement_cache_size=100
    )
    queries = [
        Query(sql=f"SELECT $1::int + {n}", parameters=("n",), read_only=True) for n in range(8)
    ]
    await database.open()
    try:
        results = await asyncio.gather(
            *(database.fetch_one(queries[i % 8], n=i) for i in range(800)), return_exceptions=True
        )
    finally:
        await database.close()

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures, "expected 'prepared statement does not exist' without pooled mode"
    assert all(isinstance(f, DatabaseUnavailable) for f in failures), failures[:3]
    assert any(isinstance(f.__cause__, asyncpg.InvalidSQLStatementNameError) for f in failures)
    told = [r for r in caplog.records if "DB_POOLED=true" in r.getMessage()]
    assert len(told) == 1


async def test_control_direct_mode_is_refused_by_pgbouncer(pooled_url: str) -> None:
    """Direct mode sends statement_timeout as a startup parameter, which PgBouncer refuses:
    pooled mode (detected from a -pooler host, or DB_POOLED=true) is required."""
    options = pool_options(parse_database_url(pooled_url), make_settings(None, db_pooled=False))

    with pytest.raises(asyncpg.ProtocolViolationError, match="statement_timeout"):
        await asyncpg.connect(**options.connect_kwargs)


async def test_migrations_run_through_pgbouncer_when_no_unpooled_url_is_given(
    services: Services, databases: DatabaseFactory, tmp_path: Path
) -> None:
    empty = await databases.create(migrated=False)
    env = command_env(
        DATABASE_URL=services.on(services.pgbouncer_url, empty.database), DB_POOLED="true"
    )

    first = await asyncio.to_thread(todo_api, "migrate", env=env, cwd=tmp_path)
    again = await asyncio.to_thread(todo_api, "migrate", env=env, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert "Migrating through the transaction pooler" in first.stderr
    assert head_revision() in first.stderr
    assert again.returncode == 0, again.stderr
    with ApiProcess("serve", env, tmp_path) as api:
        await asyncio.to_thread(api.wait_until_live)
        async with httpx.AsyncClient(base_url=api.base_url) as client:
            assert (await client.get("/health/ready")).json() == {"status": "ready"}
        api.stop()


def _pg_ctlcluster(services: Services, action: str, *, check: bool = True) -> int:
    version, cluster = services.cluster
    options = ["-m", "fast"] if action == "stop" else []
    done = subprocess.run(
        ["pg_ctlcluster", version, cluster, action, *options], check=check, capture_output=True
    )
    return done.returncode


async def test_an_outage_behind_pgbouncer_is_503_and_recovers_within_5_seconds(
    pooled_url: str, services: Services, admin_engine: AsyncEngine
) -> None:
    """PostgreSQL stops behind the pooler (a Neon compute suspending) and comes back:
    PgBouncer keeps the app's connections, the statements fail fast as 503 on the client's
    timeout, and service resumes once PgBouncer reconnects."""
    pool_timeout = statement_timeout = 1.0
    app = create_app(
        make_settings(
            pooled_url,
            db_pooled=True,
            db_pool_size=4,
            db_pool_timeout=pool_timeout,
            db_connect_timeout=1.0,
            db_statement_timeout=statement_timeout,
        )
    )
    try:
        async for client in _client_for(app):
            outage = await take_away_under(
                Load(client, workers=12),
                app.state.database.pool,
                stop=lambda: _pg_ctlcluster(services, "stop"),
                start=lambda: _pg_ctlcluster(services, "start"),
                # Behind the pooler a request can wait the pool timeout and then the
                # statement timeout (2 s here): the outage must outlast that, or no request
                # both starts and ends while the database is gone.
                seconds=4.0,
            )
    finally:
        if _pg_ctlcluster(services, "status", check=False) != 0:  # whatever went wrong
            _pg_ctlcluster(services, "start")
        await admin_engine.dispose()  # its pooled connections died with the server

    outage.check(slowest_allowed=pool_timeout + statement_timeout + 0.5)
    assert outage.pool_idle == outage.pool_size


async def _still_running(admin_engine: AsyncEngine, marker: str) -> int:
    async with admin_engine.connect() as connection:
        count = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE state = 'active' AND pid <> pg_backend_pid() AND query LIKE :marker"
            ),
            {"marker": f"%{marker}%"},
        )
    return int(count or 0)


async def _sleep_alone(database: Database, sleep: Query) -> None:
    await database.fetch_one(sleep)


async def _sleep_in_transaction(database: Database, sleep: Query) -> None:
    async with database.transaction() as transaction:
        await transaction.fetch_one(sleep)


@pytest.mark.parametrize("in_transaction", [False, True], ids=["statement", "transaction"])
async def test_a_statement_past_the_client_timeout_is_cancelled_on_the_server_through_pgbouncer(
    pooled_url: str, admin_engine: AsyncEngine, in_transaction: bool
) -> None:
    """In pooled mode the client's DB_STATEMENT_TIMEOUT is the only limit: the cancel
    request asyncpg sends, which PgBouncer forwards, must stop the statement on the server.
    Terminating the client's connection would not (PgBouncer keeps the server's statement
    running), so the app waits for the cancel within the grace, which is ample here: the
    connection is kept, and the caller has its TimeoutError (a 503) within the timeout and
    the grace. Outside a transaction and inside one (`Database.transaction()`)."""
    timeout = 1.0
    options = pool_options(
        parse_database_url(pooled_url),
        make_settings(None, db_pooled=True, db_statement_timeout=timeout),
    )
    database = Database(
        options.connect_kwargs,
        max_size=2,
        acquire_timeout=10,
        statement_cache_size=options.statement_cache_size,
        cancel_grace=cancel_grace(timeout),
    )
    marker = f"timeout-probe-{uuid.uuid4().hex}"
    sleep = Query(sql=f"SELECT pg_sleep(30) AS slept /* {marker} */", parameters=(), read_only=True)
    await database.open()
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await (_sleep_in_transaction if in_transaction else _sleep_alone)(database, sleep)
        elapsed = time.monotonic() - started

        assert timeout - 0.05 <= elapsed < timeout + cancel_grace(timeout) + 0.5, elapsed
        deadline = time.monotonic() + 2
        while await _still_running(admin_engine, marker):
            assert time.monotonic() < deadline, "pg_sleep still running on the server"
            await asyncio.sleep(0.05)
        # The cancel was acknowledged in time: the connection was given back, not cut.
        assert database.pool.get_size() == database.pool.get_idle_size() == 1
        assert (await database.fetch_one(Query(sql="SELECT 1 AS one", parameters=()))) is not None
    finally:
        await database.close()
