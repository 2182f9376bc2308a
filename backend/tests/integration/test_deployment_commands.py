"""Serving and migrating as separate steps, as a deployment runs them: `todo-api migrate`
against DATABASE_URL_UNPOOLED when it is set, clear errors naming the host and database
(never the password) or the parameter at fault, and `serve` starting without a database."""

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import DatabaseFactory, make_settings, url_string
from tests.local_postgres import quiet_port
from tests.processes import ApiProcess, command_env, todo_api
from todo_api import cli
from todo_api.db.migrate import head_revision
from todo_api.settings import Settings

PASSWORD = "Depl0y-s3cret"


def _unreachable(database: str = "todo") -> str:
    return f"postgresql://todo:{PASSWORD}@127.0.0.1:{quiet_port()}/{database}"


def test_migrate_with_an_unreachable_database_fails_naming_host_and_database(
    tmp_path: Path,
) -> None:
    url = _unreachable("orders")
    port = url.rsplit(":", 1)[1].split("/")[0]

    result = todo_api("migrate", env=command_env(DATABASE_URL=url), cwd=tmp_path)

    assert result.returncode == 1
    assert f"Cannot migrate: could not connect to database 'orders' on 127.0.0.1:{port}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr


async def test_migrate_uses_database_url_unpooled_when_it_is_set(
    databases: DatabaseFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")
    empty: URL = await databases.create(migrated=False)
    settings = make_settings(
        # The pooled URL leads nowhere: only the direct one can have been used.
        _unreachable().replace("127.0.0.1", "pooler.invalid"),
        database_url_unpooled=SecretStr(url_string(empty)),
    )

    await asyncio.to_thread(cli.migrate, settings)

    assert "pooler.invalid" not in caplog.text
    assert f"/{empty.database}" in caplog.text
    assert "Schema is at the newest migration" in caplog.text
    engine = create_async_engine(empty, poolclass=NullPool)
    async with engine.connect() as connection:
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    await engine.dispose()
    assert version == head_revision()


def test_a_parameter_that_cannot_be_honoured_stops_serve_naming_it(tmp_path: Path) -> None:
    url = f"{_unreachable()}?sslmode=verify-full&sslrootcert=/nonexistent/root.crt"

    result = todo_api("serve", env=command_env(DATABASE_URL=url), cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Cannot start: DATABASE_URL parameter 'sslrootcert': cannot load "
        "'/nonexistent/root.crt' (No such file or directory)"
    )
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("sslcert=/client.crt", "'sslcert'"),
        ("sslmode=disable&channel_binding=require", "'channel_binding=require'"),
        ("connect_timeout=0", "'connect_timeout'"),
        ("options=-c%20statement_timeout%3D1", "'options'"),
    ],
)
@pytest.mark.parametrize("command", [cli.serve, cli.migrate])
def test_every_command_refuses_such_a_parameter_before_doing_anything(
    command: Callable[[Settings], None], query: str, named: str
) -> None:
    settings = make_settings(f"{_unreachable()}?{query}")

    with pytest.raises(SystemExit) as stopped:
        command(settings)

    message = str(stopped.value)
    assert message.startswith("Cannot start: DATABASE_URL parameter")
    assert named in message
    assert PASSWORD not in message


def test_a_bad_database_url_unpooled_is_named_as_such() -> None:
    settings = make_settings(
        _unreachable(), database_url_unpooled=SecretStr(f"{_unreachable()}?sslmode=maybe")
    )

    with pytest.raises(SystemExit, match="Cannot start: DATABASE_URL_UNPOOLED parameter 'sslmode'"):
        cli.migrate(settings)


async def test_serve_starts_without_a_database_and_never_migrates(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    empty: URL = await databases.create(migrated=False)

    with ApiProcess("serve", command_env(DATABASE_URL=url_string(empty)), tmp_path) as api:
        await asyncio.to_thread(api.wait_until_live)
        async with httpx.AsyncClient(base_url=api.base_url) as client:
            # Reachable but not migrated: not ready, and serve did not migrate it.
            assert (await client.get("/health/ready")).status_code == 503
        api.stop()
    assert "Migrating" not in api.output


def test_migrate_sql_prints_what_migrate_would_run_without_touching_a_database(
    tmp_path: Path,
) -> None:
    """For a DBA who reviews or applies the SQL by hand, and for the migration linter: no
    DATABASE_URL is needed, and the SQL is alone on standard output."""
    result = todo_api("migrate", "--sql", env=command_env(), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("BEGIN;")
    assert "CREATE TABLE todos (" in result.stdout
    assert result.stdout.rstrip().endswith("COMMIT;")
    assert "INFO" not in result.stdout

    later = todo_api(
        "migrate", "--sql", "--from", head_revision() or "", env=command_env(), cwd=tmp_path
    )
    assert later.returncode == 0, later.stderr
    assert later.stdout == ""
