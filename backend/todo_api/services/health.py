"""Whether the service can do its job: the database answers and its schema is current."""

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from todo_api.db.session import Database
from todo_api.errors import DatabaseUnavailable


async def check_ready(database: Database, head_revision: str | None) -> None:
    """Raise DatabaseUnavailable unless the schema is at the migrations' head.

    A database that answers but was never migrated (or is behind this code) would fail
    every request, so it must not receive traffic either."""
    try:
        revision = (
            await database.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one_or_none()
    except ProgrammingError:  # no alembic_version table: never migrated
        revision = None
    if revision != head_revision:
        raise DatabaseUnavailable(f"schema at {revision}, expected {head_revision}")
