"""Running the Alembic migrations from code, for `todo-api migrate`, readiness and tests.

The configuration is built here rather than read from an `alembic.ini`, so migrations run
the same from any working directory and from an installed wheel.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

SCRIPT_LOCATION = Path(__file__).parent / "alembic"


def alembic_config(url: URL | None = None) -> Config:
    """An Alembic config for `url`; env.py reads it from `attributes`, which (unlike the
    ini options) does not interpolate `%` characters in passwords."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        config.attributes["database_url"] = url
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_to_head(url: URL) -> None:
    """Apply every pending migration. Blocking: it runs its own event loop."""
    command.upgrade(alembic_config(url), "head")


def downgrade_to(url: URL, revision: str) -> None:
    """Revert migrations down to `revision` (`base` removes the schema)."""
    command.downgrade(alembic_config(url), revision)
