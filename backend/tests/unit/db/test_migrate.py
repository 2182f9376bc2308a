"""How migrations connect (db/migrate.py): through a pooler, and directly."""

from tests.unit.db.connection_strings import NEON_DIRECT, NEON_POOLED
from todo_api.db.migrate import migration_connect_args
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
