"""db/migrate.py: how migrations connect (through a pooler, and directly), and the SQL
they run as the migration linter reads it."""

import subprocess
import sys
from pathlib import Path

from tests.unit.db.connection_strings import NEON_DIRECT, NEON_POOLED
from todo_api.db.migrate import SCRIPT_LOCATION, migration_connect_args, migration_sql
from todo_api.db.url import parse_database_url


def test_migrations_through_a_pooler_use_unique_statement_names() -> None:
    arguments = migration_connect_args(parse_database_url(NEON_POOLED), pooled=True)

    names = {arguments["prepared_statement_name_func"]() for _ in range(3)}
    assert len(names) == 3
    assert arguments["statement_cache_size"] == 0
    assert arguments["prepared_statement_cache_size"] == 0


def test_direct_migrations_keep_sqlalchemys_statement_handling() -> None:
    arguments = migration_connect_args(parse_database_url(NEON_DIRECT), connect_timeout=4)

    assert "prepared_statement_name_func" not in arguments
    assert arguments["timeout"] == 4
    assert arguments["server_settings"] == {"application_name": "todo-api-migrate"}


def test_the_migrations_sql_is_written_without_a_database() -> None:
    """`todo-api migrate --sql` (and the migration linter) read this."""
    sql = migration_sql()

    assert "CREATE TABLE todos (" in sql
    assert "CHECK (btrim(title) <> '')" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    assert "ALTER TABLE todos ADD COLUMN IF NOT EXISTS priority" in migration_sql("0001")
    assert "IS NOT NFC NORMALIZED" in migration_sql("0002")
    assert "CREATE TABLE IF NOT EXISTS lists" in migration_sql("0003")
    assert "CREATE TABLE IF NOT EXISTS tombstones" in migration_sql("0004")
    assert "CREATE TABLE IF NOT EXISTS idempotency_keys" in migration_sql("0005")
    assert migration_sql("0006") == "", "nothing follows the newest revision"


SQUAWK_CONFIG = SCRIPT_LOCATION / "squawk.toml"
UNSAFE_ON_A_LIVE_TABLE = "CREATE INDEX ix_todos_title ON todos (title);\n"


def test_the_migration_linter_refuses_an_index_built_under_a_write_lock(tmp_path: Path) -> None:
    """The linter runs with the project's settings, and those settings keep the rule that
    matters most on a live table: an index built without CONCURRENTLY blocks every write."""
    migration = tmp_path / "unsafe.sql"
    migration.write_text(UNSAFE_ON_A_LIVE_TABLE)

    result = subprocess.run(
        [Path(sys.executable).parent / "squawk", "--config", SQUAWK_CONFIG, migration],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "require-concurrent-index-creation" in result.stdout
