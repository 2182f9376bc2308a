"""Whether the service can do its job: the database answers and its schema is current."""

import asyncpg
from sqlalchemy import column, select, table

from todo_api.db.database import Database, Query
from todo_api.errors import DatabaseUnavailable

_SCHEMA_VERSION = Query.compile(select(column("version_num")).select_from(table("alembic_version")))


async def check_ready(database: Database, head_revision: str | None) -> None:
    """Raise DatabaseUnavailable unless the schema is at the migrations' head.

    A database that answers but was never migrated (or is behind this code) would fail
    every request, so it must not receive traffic either."""
    try:
        row = await database.fetch_one(_SCHEMA_VERSION)
    except asyncpg.UndefinedTableError:  # never migrated
        row = None
    revision = row["version_num"] if row is not None else None
    if revision != head_revision:
        raise DatabaseUnavailable(f"schema at {revision}, expected {head_revision}")
