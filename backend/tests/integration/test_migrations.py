"""The schema exists only through the migrations, and they match the models.

pytest-alembic's standard checks run against a fresh, empty database: a single head,
upgrade from nothing to head, every step down and up again, and no difference between
the SQLModel metadata and the migrated schema.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import DatabaseFactory
from todo_api.db import migrate
from todo_api.db.migrate import head_revision, upgrade_to_head

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
async def empty_database(databases: DatabaseFactory) -> URL:
    return await databases.create(migrated=False)


@pytest.fixture
def alembic_engine(empty_database: URL) -> AsyncEngine:
    """pytest-alembic drives this engine from its own event loops, hence no pool."""
    return create_async_engine(empty_database, poolclass=NullPool)


@pytest.fixture
def alembic_config() -> Any:
    """The project's own Alembic configuration, as `todo-api migrate` uses it."""
    return migrate.alembic_config()


async def _query(url: URL, sql: str) -> list[Any]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(sa.text(sql))).all())
    finally:
        await engine.dispose()


async def test_downgrade_to_base_removes_the_schema_and_upgrade_restores_it(
    empty_database: URL,
) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(empty_database), "base")
    tables = await _query(empty_database, "SELECT tablename FROM pg_tables WHERE tablename='todos'")
    assert tables == []

    await asyncio.to_thread(upgrade_to_head, empty_database)
    version = await _query(empty_database, "SELECT version_num FROM alembic_version")
    assert version == [(head_revision(),)]


@pytest.fixture
async def migrated_engine(empty_database: URL) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade_to_head, empty_database)
    engine = create_async_engine(empty_database, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


@pytest.mark.parametrize(
    ("title", "description"),
    [("   ", None), ("", None), ("x" * 256, None), ("ok", "d" * 2001), (None, None)],
    ids=["blank title", "empty title", "256-char title", "2001-char description", "null title"],
)
async def test_the_database_enforces_the_same_limits_as_the_api(
    migrated_engine: AsyncEngine, title: str | None, description: str | None
) -> None:
    insert = sa.text("INSERT INTO todos (user_id, title, description) VALUES ('u', :t, :d)")

    with pytest.raises(DBAPIError):
        async with migrated_engine.connect() as connection:
            await connection.execute(insert, {"t": title, "d": description})


async def test_the_listing_index_exists(migrated_engine: AsyncEngine) -> None:
    async with migrated_engine.connect() as connection:
        definition = (
            await connection.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
                {"name": "ix_todos_user_id_created_at_id"},
            )
        ).scalar_one()

    assert "(user_id, created_at DESC, id DESC)" in definition


async def test_constraints_have_their_conventional_names(migrated_engine: AsyncEngine) -> None:
    """Later migrations refer to constraints by name, so the names must be the documented ones."""
    async with migrated_engine.connect() as connection:
        names = (
            await connection.execute(
                sa.text(
                    "SELECT conname FROM pg_constraint "
                    "WHERE conrelid = 'todos'::regclass AND contype IN ('c', 'p', 'u', 'f')"
                )
            )
        ).scalars()

    assert sorted(names) == ["ck_todos_title_not_blank", "pk_todos"]
