"""Whether the service can do its job: the database answers, takes writes, and its schema
is current."""

from sqlalchemy import column, func, literal_column, select, table

from todo_api.db.database import Database, Query
from todo_api.errors import DatabaseNotMigrated, DatabaseReadOnly

_SCHEMA_VERSION = Query.compile(
    select(
        column("version_num"),
        func.current_setting(literal_column("'transaction_read_only'")).label("read_only"),
    ).select_from(table("alembic_version"))
)


async def check_ready(database: Database, head_revision: str | None) -> None:
    """Raise DatabaseNotMigrated unless the schema is at the migrations' head, and
    DatabaseReadOnly when the database refuses writes.

    A database that answers but was never migrated (or is behind this code) would fail
    every request, and a read-only one every write, so neither must receive traffic."""
    try:
        row = await database.fetch_one(_SCHEMA_VERSION)
    except DatabaseNotMigrated:  # no alembic_version: never migrated
        row = None
    revision = row["version_num"] if row is not None else None
    if revision != head_revision:
        raise DatabaseNotMigrated(f"schema at {revision}, expected {head_revision}")
    if row is not None and row["read_only"] == "on":
        raise DatabaseReadOnly("transaction_read_only is on")
