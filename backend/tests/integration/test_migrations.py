"""The schema exists only through the migrations, and they match the models.

pytest-alembic's standard checks run against a fresh, empty database: a single head,
upgrade from nothing to head, every step down and up again, and no difference between
the SQLModel metadata and the migrated schema as Alembic's autogenerate sees it. That
comparison is blind to check constraints, and to server defaults as configured here, so
the migrated schema is also compared with the one the models build themselves, as
PostgreSQL's catalog describes both: every column (type, NOT NULL, default), every
constraint (its definition, and whether it is validated) and every index (its
definition, and whether it is valid).
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
from sqlmodel import SQLModel

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

    assert sorted(names) == [
        "ck_todos_priority_known",
        "ck_todos_tags_at_most_20",
        "ck_todos_title_not_blank",
        "fk_todos_user_id_list_id_lists",
        "pk_todos",
        "uq_todos_user_id_list_id_position",
    ]


# What PostgreSQL says a table is, in its own normalized spelling: the same whichever
# DDL made it. NOT NULL constraints (listed since PostgreSQL 18) are in `attnotnull`.
_CATALOG = {
    "columns": """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT conname, contype, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE conrelid = CAST(:table AS regclass) AND contype <> 'n'
    """,
    "indexes": """
        SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = CAST(:table AS regclass)
    """,
}


async def _catalog(engine: AsyncEngine) -> dict[str, set[tuple[Any, ...]]]:
    """Every table of the models' metadata as the catalog describes it, plus the list of
    tables (Alembic's own version table aside)."""
    description: dict[str, set[tuple[Any, ...]]] = {}
    async with engine.connect() as connection:
        tables = await connection.scalars(
            sa.text(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        )
        description["tables"] = {(name,) for name in tables}
        for table in SQLModel.metadata.tables:
            for kind, sql in _CATALOG.items():
                rows = await connection.execute(sa.text(sql), {"table": table})
                description[f"{table} {kind}"] = {tuple(row) for row in rows}
    return description


async def test_the_migrated_schema_is_the_one_the_models_define(
    databases: DatabaseFactory, migrated_engine: AsyncEngine
) -> None:
    built = create_async_engine(await databases.create(migrated=False), poolclass=NullPool)
    try:
        async with built.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        from_models = await _catalog(built)
    finally:
        await built.dispose()
    migrated = await _catalog(migrated_engine)

    assert from_models.keys() == migrated.keys()
    differences = {
        part: {
            "only in the models": sorted(from_models[part] - migrated[part], key=repr),
            "only in the migrations": sorted(migrated[part] - from_models[part], key=repr),
        }
        for part in from_models
        if from_models[part] != migrated[part]
    }
    assert differences == {}
    # Not an empty comparison: the planning, list and change-feed columns, the checks, the
    # keys and the indexes of every table are all in it.
    assert len(migrated["todos columns"]) == 14
    assert len(migrated["todos constraints"]) == 6
    assert len(migrated["todos indexes"]) == 10
    assert len(migrated["lists columns"]) == 6
    assert len(migrated["lists constraints"]) == 2
    assert len(migrated["lists indexes"]) == 4
    assert len(migrated["tombstones columns"]) == 5
    assert len(migrated["tombstones constraints"]) == 2
    assert len(migrated["tombstones indexes"]) == 3
