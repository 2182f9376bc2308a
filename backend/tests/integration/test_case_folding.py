"""Case-insensitive matching knows more than ASCII, whatever the locale of the environment
the database was initialised in (specs/decisions/0019-case-folding.md): `q` and the
uniqueness of list names fold "É" to "é" on a server initialised under LC_ALL=C, and a
database that would fold ASCII only is named at start-up."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import make_settings
from tests.helpers import assert_error, create_todo, todos_url
from tests.integration.test_lists import lists_url
from tests.local_postgres import LocalPostgres, migrated_local_postgres
from todo_api import cli
from todo_api.main import create_app

# What a bare container or a CI runner often has: no locale at all.
C_LOCALE = {"LC_ALL": "C", "LANG": "C"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """The embedded server's binaries and initdb, run under LC_ALL=C."""
    with migrated_local_postgres(
        tmp_path_factory.mktemp("c-locale"), environment=C_LOCALE
    ) as postgres:
        yield postgres


@pytest.fixture
async def client(server: LocalPostgres) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(server.url()))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_a_search_folds_accented_capitals(client: httpx.AsyncClient) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    school = await create_todo(client, user, title="école du soir")
    await create_todo(client, user, title="ÉTÉ", description="Vacances à l'ÎLE")
    await create_todo(client, user, title="ecole, without an accent")

    for term, found in {
        "ÉCOLE": [school["title"]],
        "école": [school["title"]],
        "été": ["ÉTÉ"],
        "île": ["ÉTÉ"],
    }.items():
        page = (await client.get(todos_url(user), params={"q": term})).json()
        assert sorted(item["title"] for item in page["items"]) == found, term


async def test_list_names_that_differ_only_in_case_collide(client: httpx.AsyncClient) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    created = await client.post(lists_url(user), json={"name": "Élan"})
    assert created.status_code == 201

    for same in ("élan", "ÉLAN"):
        assert_error(await client.post(lists_url(user), json={"name": same}), 409, "CONFLICT")
    assert (await client.post(lists_url(user), json={"name": "elan"})).status_code == 201


async def test_the_database_folds_by_unicode_whatever_the_environment(
    server: LocalPostgres,
) -> None:
    engine = create_async_engine(server.url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            lowered = await connection.scalar(text("SELECT lower(U&'\\00C9\\03A3')"))
    finally:
        await engine.dispose()

    assert lowered == "\u00e9\u03c3"


@pytest.fixture
async def ascii_only_database(postgres_server: URL) -> AsyncIterator[URL]:
    """A database created with the libc C locale, as `initdb` under LC_ALL=C made them."""
    name = f"todo_c_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(postgres_server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as connection:
        await connection.execute(
            text(
                f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER libc LOCALE 'C'"
            )
        )
    try:
        yield postgres_server.set(database=name)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


def _case_folding_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings about case folding (run through PgBouncer, migrate also warns that it
    migrates through a pooler, which is not this test's business)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and "0019-case-folding.md" in record.getMessage()
    ]


async def test_migrate_names_a_database_that_folds_ascii_only(
    ascii_only_database: URL, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")

    await asyncio.to_thread(cli.migrate, make_settings(ascii_only_database))

    warnings = _case_folding_warnings(caplog)
    assert len(warnings) == 1, caplog.text
    assert f"database '{ascii_only_database.database}'" in warnings[0]
    assert "lowers ASCII letters only (LC_CTYPE C)" in warnings[0]
    assert "0019-case-folding.md" in warnings[0]
    assert "Schema is at the newest migration" in caplog.text


async def test_migrate_says_nothing_of_a_database_that_folds_unicode(
    server: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")

    await asyncio.to_thread(cli.migrate, make_settings(server.url()))

    assert not _case_folding_warnings(caplog), caplog.text
