"""Running the Alembic migrations from code, for `todo-api migrate`, readiness and tests.

The configuration is built here rather than read from an `alembic.ini`, so migrations run
the same from any working directory and from an installed wheel. Connections are made
from the parsed DATABASE_URL's asyncpg arguments (SSL context included), exactly as the
app makes its own.

Migrations belong on a direct connection (Neon's DATABASE_URL_UNPOOLED). When only a
pooled URL is given they still work through a transaction pooler: SQLAlchemy's prepared
statements then get unique names, so two clients sharing a server connection never
collide on one.
"""

import io
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from todo_api.db.url import DatabaseTarget, parse_database_url

SCRIPT_LOCATION = Path(__file__).parent / "alembic"
APPLICATION_NAME = "todo-api-migrate"
DEFAULT_CONNECT_TIMEOUT = 10.0


def _unique_statement_name() -> str:
    return f"__todo_api_{uuid.uuid4().hex}__"


def migration_connect_args(
    target: DatabaseTarget, *, pooled: bool = False, connect_timeout: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for SQLAlchemy's asyncpg dialect, which passes most of them on to
    `asyncpg.connect`."""
    arguments = target.connect_arguments(
        application_name=APPLICATION_NAME,
        connect_timeout=connect_timeout or DEFAULT_CONNECT_TIMEOUT,
    )
    if pooled:
        arguments |= {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        }
    return arguments


def _as_target(database: URL | DatabaseTarget) -> DatabaseTarget:
    if isinstance(database, DatabaseTarget):
        return database
    return parse_database_url(database.render_as_string(hide_password=False))


def alembic_config(
    database: URL | DatabaseTarget | None = None,
    *,
    pooled: bool = False,
    connect_timeout: float | None = None,
) -> Config:
    """An Alembic config for `database`; env.py reads it from `attributes`, which (unlike
    the ini options) does not interpolate `%` characters in passwords."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if database is not None:
        target = _as_target(database)
        # The dialect comes from the URL; everything else from connect_args.
        config.attributes["database_url"] = target.url.set(query={})
        config.attributes["connect_args"] = migration_connect_args(
            target, pooled=pooled, connect_timeout=connect_timeout
        )
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_to_head(
    database: URL | DatabaseTarget, *, pooled: bool = False, connect_timeout: float | None = None
) -> None:
    """Apply every pending migration. Blocking: it runs its own event loop."""
    command.upgrade(
        alembic_config(database, pooled=pooled, connect_timeout=connect_timeout), "head"
    )


def migration_sql(start: str = "base", end: str = "head") -> str:
    """The SQL that upgrading from `start` to `end` runs, as Alembic's offline mode writes
    it: what the migration linter reads."""
    config = alembic_config()
    buffer = io.StringIO()
    config.output_buffer = buffer
    command.upgrade(config, f"{start}:{end}", sql=True)
    return buffer.getvalue()
