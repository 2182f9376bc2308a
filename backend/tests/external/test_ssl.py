"""Against a real PostgreSQL with ssl = on that refuses plain TCP (only hostssl lines in
pg_hba.conf), its certificate issued by a throwaway test CA for "localhost" only.

Each sslmode is what libpq makes of it: require encrypts, verify-full checks the chain and
the host name (against sslrootcert, or the system trust store, which does not know the
test CA), and channel_binding=require is met by verify-full. The failures prove the checks
are real: the same server is refused when the name, the CA or the encryption is wrong.

A certificate that channel_binding=require cannot accept is a setting to fix, not an
outage: `todo-api serve` and `migrate` stop at start-up saying what to set (the app built
in-process, without the commands, still answers 503s)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import DatabaseFactory, make_settings
from tests.external.conftest import Services, require_services
from tests.helpers import assert_error, todo_url, todos_url
from tests.processes import command_env, todo_api, todo_api_server
from todo_api.db.database import APPLICATION_NAME
from todo_api.db.migrate import head_revision, upgrade_to_head
from todo_api.db.url import parse_database_url
from todo_api.main import create_app

require_services()


async def _client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _route(services: Services, name: str, database: str | None) -> str:
    require, verify = services.ssl_require_url, services.ssl_verify_full_url
    ca = services.ca_file
    routes = {
        "require": (require, {"sslmode": "require"}),
        "prefer": (require, {"sslmode": "prefer"}),
        "verify-ca via 127.0.0.1": (require, {"sslmode": "verify-ca", "sslrootcert": ca}),
        "verify-full": (verify, {"sslmode": "verify-full", "sslrootcert": ca}),
        "channel_binding=require": (
            verify,
            {"sslmode": "require", "channel_binding": "require", "sslrootcert": ca},
        ),
        # Refused: the host name is not on the certificate.
        "verify-full via 127.0.0.1": (require, {"sslmode": "verify-full", "sslrootcert": ca}),
        # Refused: the system trust store does not know the test CA.
        "verify-full, system store": (verify, {"sslmode": "verify-full"}),
        "channel_binding=require, system store": (
            verify,
            {"sslmode": "require", "channel_binding": "require"},
        ),
        # Refused by the server: it takes no unencrypted TCP connections.
        "disable": (require, {"sslmode": "disable"}),
    }
    route, query = routes[name]
    return services.on(route, database, **query)


@pytest.fixture(scope="module")
async def database(databases: DatabaseFactory) -> URL:
    """A migrated database of this module's own: only these tests' apps connect to it."""
    return await databases.create(migrated=True)


async def _app_connections_use_ssl(database: URL) -> list[bool]:
    engine = create_async_engine(database, poolclass=NullPool)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT s.ssl FROM pg_stat_ssl AS s JOIN pg_stat_activity AS a USING (pid) "
                "WHERE a.datname = current_database() AND a.application_name = :name"
            ),
            {"name": APPLICATION_NAME},
        )
        encrypted = [row.ssl for row in rows]
    await engine.dispose()
    return encrypted


@pytest.mark.parametrize(
    "route",
    ["require", "prefer", "verify-ca via 127.0.0.1", "verify-full", "channel_binding=require"],
)
async def test_the_api_works_over_ssl(route: str, services: Services, database: URL) -> None:
    app = create_app(make_settings(_route(services, route, database.database)))
    async for client in _client_for(app):
        created = await client.post(todos_url("tls"), json={"title": route})
        assert created.status_code == 201
        fetched = await client.get(todo_url("tls", created.json()["id"]))
        assert fetched.json() == created.json()
        assert (await client.get("/health/ready")).status_code == 200

        encrypted = await _app_connections_use_ssl(database)
        assert encrypted
        assert all(encrypted)


@pytest.mark.parametrize(
    ("route", "failure"),
    [
        ("verify-full via 127.0.0.1", "SSLCertVerificationError"),
        ("verify-full, system store", "SSLCertVerificationError"),
        ("channel_binding=require, system store", "SSLCertVerificationError"),
        ("disable", "InvalidAuthorizationSpecificationError"),
    ],
)
async def test_a_connection_that_fails_its_checks_is_refused_as_a_503(
    route: str,
    failure: str,
    services: Services,
    database: URL,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="todo_api")
    app = create_app(make_settings(_route(services, route, database.database)))
    async for client in _client_for(app):
        assert_error(await client.get(todos_url("tls")), 503, "SERVICE_UNAVAILABLE")
        assert_error(await client.get("/health/ready"), 503, "SERVICE_UNAVAILABLE")

    assert f"Database unavailable: {failure}" in caplog.text


async def test_migrations_run_over_verify_full(
    services: Services, databases: DatabaseFactory
) -> None:
    empty = await databases.create(migrated=False)
    target = parse_database_url(_route(services, "verify-full", empty.database))

    await asyncio.to_thread(upgrade_to_head, target)

    connection = await asyncpg.connect(**target.connect_kwargs)
    try:
        assert await connection.fetchval("SELECT version_num FROM alembic_version") == (
            head_revision()
        )
        assert await connection.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        await connection.close()


_PASSWORD_IN_ROUTES = "todo-ci-Pa55word"  # what .ci/setup-postgres-services.sh sets


def _assert_one_clear_line(output: str, *parts: str) -> None:
    lines = [line for line in output.splitlines() if line.startswith("Cannot start:")]
    assert len(lines) == 1, output
    for part in parts:
        assert part in lines[0], output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_channel_binding_with_a_certificate_that_does_not_verify_stops_the_command(
    command: str, services: Services, database: URL, tmp_path: Path
) -> None:
    url = _route(services, "channel_binding=require, system store", database.database)

    result = todo_api(command, env=command_env(DATABASE_URL=url), cwd=tmp_path, timeout=60)

    assert result.returncode == 1
    _assert_one_clear_line(
        result.stderr,
        "DATABASE_URL has channel_binding=require",
        f"the certificate of database {database.database!r} on localhost:",
        "does not verify against the system trust store",
        "set sslrootcert= to the file of the CA certificate that issued it",
        "channel_binding=prefer",
    )
    assert _PASSWORD_IN_ROUTES not in result.stderr


def test_channel_binding_through_a_host_name_not_on_the_certificate_says_so(
    services: Services, database: URL, tmp_path: Path
) -> None:
    url = services.on(
        services.ssl_require_url,
        database.database,
        channel_binding="require",
        sslrootcert=services.ca_file,
    )

    result = todo_api("serve", env=command_env(DATABASE_URL=url), cwd=tmp_path, timeout=60)

    assert result.returncode == 1
    _assert_one_clear_line(
        result.stderr,
        f"does not verify against sslrootcert {services.ca_file}",
        "certificate is not valid for '127.0.0.1'",
        "connect through a host name its certificate names",
    )


def test_the_unpooled_url_is_named_when_it_is_the_one_at_fault(
    services: Services, database: URL, tmp_path: Path
) -> None:
    good = _route(services, "channel_binding=require", database.database)
    bad = _route(services, "channel_binding=require, system store", database.database)
    env = command_env(DATABASE_URL=good, DATABASE_URL_UNPOOLED=bad)

    result = todo_api("migrate", env=env, cwd=tmp_path, timeout=60)

    assert result.returncode == 1
    _assert_one_clear_line(result.stderr, "DATABASE_URL_UNPOOLED has channel_binding=require")


async def test_channel_binding_with_the_ca_that_issued_the_certificate_starts(
    services: Services, database: URL, tmp_path: Path
) -> None:
    url = _route(services, "channel_binding=require", database.database)
    env = command_env(DATABASE_URL=url)

    migrated = await asyncio.to_thread(todo_api, "migrate", env=env, cwd=tmp_path, timeout=60)
    assert migrated.returncode == 0, migrated.stderr
    with todo_api_server("serve", env, tmp_path) as (base_url, _log):
        async with httpx.AsyncClient(base_url=base_url) as client:
            assert (await client.get("/health/ready")).status_code == 200
            created = await client.post(todos_url("tls"), json={"title": "bound"})
            assert created.status_code == 201
