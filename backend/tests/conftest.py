"""Fixtures shared by every suite: a real PostgreSQL, a migrated test database, the app.

The database is the embedded PostgreSQL (started once per run in a temporary directory),
or the server in TEST_DATABASE_URL. Either way the suite creates its own database on it,
builds the schema by running the migrations, and drops the database at the end.

The app under test reaches that database directly, or by another route when
TEST_APP_DATABASE_URL is set (through PgBouncer, or over SSL: `make test-external`); only
its database name is replaced by the suite's.
"""

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.helpers import truncate_every_table
from tests.routability import DISTRIBUTED_TABLES, routing_problems
from tests.statements import observing, recording_database
from todo_api.db.embedded import EmbeddedPostgres
from todo_api.db.migrate import upgrade_to_head
from todo_api.db.url import parse_database_url
from todo_api.main import create_app
from todo_api.services import changes, idempotency
from todo_api.settings import Settings


def url_string(url: URL) -> str:
    """A URL as DATABASE_URL would hold it (the password kept)."""
    return url.render_as_string(hide_password=False)


def make_settings(database_url: URL | str | None, **overrides: object) -> Settings:
    """Settings for a test app, independent of any .env file on the machine."""
    if isinstance(database_url, URL):
        database_url = url_string(database_url)
    secret = SecretStr(database_url) if database_url is not None else None
    return Settings(_env_file=None, database_url=secret, **overrides)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """A URL to the server's maintenance database, for creating test databases."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield parse_database_url(external).url
        return
    with (
        tempfile.TemporaryDirectory(prefix="todo-api-tests-") as data_root,
        EmbeddedPostgres(Path(data_root) / "pgdata", remove_data_on_stop=True) as postgres,
    ):
        yield postgres.url("postgres")


_DROP_ATTEMPTS = 20
_INSUFFICIENT_PRIVILEGE = "42501"


class DatabaseFactory:
    """Creates uniquely named databases on the test server and drops them at the end."""

    def __init__(self, server: URL) -> None:
        self.server = server
        self.created: list[str] = []

    async def _execute(self, sql: str) -> None:
        engine = create_async_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.execute(text(sql))
        finally:
            await engine.dispose()

    async def create(self, *, migrated: bool) -> URL:
        name = f"todo_test_{uuid.uuid4().hex[:16]}"
        await self._execute(f"CREATE DATABASE {name}")
        self.created.append(name)
        url = self.server.set(database=name)
        if migrated:
            # Alembic's env.py runs its own event loop, so it gets a thread of its own.
            await asyncio.to_thread(upgrade_to_head, url)
        return url

    async def drop_all(self) -> None:
        for name in self.created:
            await self._drop(name)

    async def _drop(self, name: str) -> None:
        """DROP ... WITH (FORCE), tried again for a few seconds while it is refused for
        lack of privilege: on a server where the tests' role is not a superuser (the CI
        services), an autovacuum worker busy in the database is a backend that role may
        not terminate, and it is gone once its pass ends."""
        for attempt in range(_DROP_ATTEMPTS):
            try:
                await self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                return
            except ProgrammingError as exc:
                refused = getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE
                if not refused or attempt == _DROP_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5)


@pytest.fixture(scope="session")
async def databases(postgres_server: URL) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(postgres_server)
    yield factory
    await factory.drop_all()


@pytest.fixture(scope="session")
async def database_url(databases: DatabaseFactory) -> URL:
    """The suite's main database, with the schema built by the migrations."""
    return await databases.create(migrated=True)


@pytest.fixture(scope="session")
def app_database_url(database_url: URL) -> str:
    """DATABASE_URL for the app under test: the suite's database, directly or by the route
    in TEST_APP_DATABASE_URL (its host, port, credentials and parameters, kept verbatim)."""
    route = os.environ.get("TEST_APP_DATABASE_URL")
    if not route:
        return url_string(database_url)
    return url_string(make_url(route).set(database=database_url.database))


@pytest.fixture(scope="session")
def app_server_settings(app_database_url: str) -> dict[str, str]:
    """The settings a `todo-api` process needs to reach the suite's database by the same
    route as the in-process app: its URL, and DB_POOLED when the run goes through a
    transaction pooler (`make test-external` sets it for the app, which reads it from the
    environment; a process of its own gets a cleaned environment, so it is passed on)."""
    settings = {"DATABASE_URL": app_database_url}
    if "DB_POOLED" in os.environ:
        settings["DB_POOLED"] = os.environ["DB_POOLED"]
    return settings


@pytest.fixture(scope="session")
async def admin_engine(database_url: URL) -> AsyncIterator[AsyncEngine]:
    """A connection to the test database that bypasses the app, for arranging and checking
    rows. Its statements are not part of the app's SQL audit."""
    engine = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


# Every statement the app sends that touches a user's table (todos, lists, tombstones,
# idempotency_keys: the tables distributed by user_id, specs/scaling.md) must be routable
# to one shard: each reference to such a table, in every CTE and subquery, is pinned by
# `<table>.user_id = $n` to one parameter, the same one throughout the statement, and each
# INSERT carries user_id from that parameter or from a row pinned to it (tests.routability
# says exactly what passes). The exceptions reach every user's rows on purpose; each is
# listed here with its reason, which its definition repeats.
USER_TABLES = tuple(sorted(DISTRIBUTED_TABLES))
ALL_USERS: Mapping[str, str] = MappingProxyType(
    {
        changes.PURGE.sql: (
            "the purge of tombstones expires them by age, whoever's they are: a batch of "
            "the oldest across users, run in the background by services.purge, never as "
            "part of a request (on Citus: multi-shard, or run per shard; specs/scaling.md)"
        ),
        idempotency.PURGE.sql: (
            "the purge of idempotency keys expires them by age, whoever's they are: a "
            "batch of the oldest across users, run in the background by services.purge, "
            "never as part of a request (on Citus: multi-shard, or run per shard)"
        ),
    }
)
_ANY_USER_TABLE = "|".join(USER_TABLES)
_MENTION = re.compile(rf"\b(?:{_ANY_USER_TABLE})\b")
# The tables the change feed follows: every UPDATE of them moves the row's change_xid
# (models.changes puts it in every Core UPDATE), in its SET, before any WHERE.
_FOLLOWED_UPDATE = re.compile(r"\bUPDATE\s+(?:todos|lists)\s+SET\b", re.IGNORECASE)
_WHERE = re.compile(r"\bWHERE\b", re.IGNORECASE)
_CHANGE_XID_SET = re.compile(r"\bchange_xid\s*=\s*pg_current_xact_id\(\)")


def unroutable_statements(statements: list[str]) -> dict[str, list[str]]:
    """The statements in `statements` that a planner distributing by user_id could not
    send to one shard, each with why (tests.routability), the allow-listed ones left out."""
    return {
        sql: problems
        for sql in dict.fromkeys(statements)
        if sql not in ALL_USERS and (problems := routing_problems(sql))
    }


def unscoped_statements(statements: list[str]) -> list[str]:
    """The statements in `statements` that could reach another user's rows (or more than
    one user's shard)."""
    bad = unroutable_statements(statements)
    return [sql for sql in statements if sql in bad]


class StatementLog:
    """The SQL the app sends, as the driver receives it."""

    def __init__(self) -> None:
        self.all: list[str] = []
        self.todos: list[str] = []

    def record(self, statement: str) -> None:
        self.all.append(statement)
        if _MENTION.search(statement):
            self.todos.append(statement)


def updates_without_change_xid(statements: list[str]) -> list[str]:
    """The statements in `statements` with an UPDATE of todos or lists that leaves the
    rows' change_xid behind: the change feed would miss that change."""
    bad = []
    for sql in statements:
        for update in _FOLLOWED_UPDATE.finditer(sql):
            where = _WHERE.search(sql, update.end())
            set_clause = sql[update.end() : where.start() if where else len(sql)]
            if not _CHANGE_XID_SET.search(set_clause):
                bad.append(sql)
                break
    return bad


@pytest.fixture(scope="session")
def sql_audit() -> Iterator[StatementLog]:
    """Collects the app's SQL for the whole run, then fails the run if any statement on the
    todos, lists, tombstones or idempotency_keys table would not be routed to one user's
    shard (`unroutable_statements`), or if an UPDATE of todos or lists left change_xid
    behind."""
    log = StatementLog()
    yield log
    offenders = unroutable_statements(log.todos)
    assert not offenders, "statements not routable to one user's shard:\n" + "\n".join(
        f"{sql}\n  -> {'; '.join(problems)}" for sql, problems in offenders.items()
    )
    unfollowed = updates_without_change_xid(log.todos)
    assert not unfollowed, "updates the change feed would miss:\n" + "\n".join(unfollowed)


@pytest.fixture(scope="session")
async def app(app_database_url: str, sql_audit: StatementLog) -> AsyncIterator[FastAPI]:
    """The app as served, with its lifespan running, on the test database."""
    settings = make_settings(app_database_url)
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        recording_database(application, settings),
        observing(sql_audit.record),
    ):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, as a browser or curl would."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def clean_database(admin_engine: AsyncEngine) -> None:
    """Each test that uses the database starts with no todos, no lists, and nothing in any
    other table of the models (tombstones, idempotency keys, whatever comes next)."""
    async with admin_engine.connect() as connection:
        await connection.execute(text(truncate_every_table()))
