"""The connection pool (db/database.py): how it is configured for direct and pooled
(PgBouncer, Neon `-pooler`) endpoints, and the statements' parameters."""

import logging
from typing import Any

import pytest

from tests.unit.db.connection_strings import BASE, NEON_DIRECT, NEON_POOLED, PASSWORD
from todo_api.db.database import APPLICATION_NAME, Query, create_database, pool_options
from todo_api.db.url import parse_database_url
from todo_api.settings import Settings


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, database_url=None, **overrides)


# --- The pool: direct and pooled mode -----------------------------------------------------


def test_direct_mode_caches_statements_and_sets_statement_timeout_on_the_server() -> None:
    options = pool_options(parse_database_url(NEON_DIRECT), settings(db_statement_timeout=2.5))

    assert not options.pooled
    assert options.statement_cache_size > 0
    assert options.connect_kwargs["server_settings"] == {
        "application_name": APPLICATION_NAME,
        "statement_timeout": "2500",
    }
    assert options.connect_kwargs["command_timeout"] == 2.5


def test_pooled_mode_is_detected_from_the_host() -> None:
    options = pool_options(parse_database_url(NEON_POOLED), settings(db_statement_timeout=2.5))

    assert options.pooled
    # No named statements to go missing, and no startup parameter a pooler rejects; the
    # statement timeout is the client's.
    assert options.statement_cache_size == 0
    assert options.connect_kwargs["server_settings"] == {"application_name": APPLICATION_NAME}
    assert options.connect_kwargs["command_timeout"] == 2.5


@pytest.mark.parametrize(
    ("raw", "setting", "pooled"),
    [(NEON_DIRECT, True, True), (NEON_POOLED, False, False), (NEON_POOLED, None, True)],
)
def test_db_pooled_forces_the_mode_either_way(raw: str, setting: bool | None, pooled: bool) -> None:
    assert pool_options(parse_database_url(raw), settings(db_pooled=setting)).pooled is pooled


def test_the_url_connect_timeout_wins_over_the_setting() -> None:
    target = parse_database_url(f"{BASE}?connect_timeout=9")

    assert pool_options(target, settings(db_connect_timeout=3)).connect_kwargs["timeout"] == 9
    assert (
        pool_options(parse_database_url(BASE), settings(db_connect_timeout=3)).connect_kwargs[
            "timeout"
        ]
        == 3
    )


def test_the_url_application_name_wins_over_the_default() -> None:
    target = parse_database_url(f"{BASE}?application_name=todo-eu")

    server_settings = pool_options(target, settings()).connect_kwargs["server_settings"]
    assert server_settings["application_name"] == "todo-eu"


async def test_creating_the_pool_logs_the_channel_binding_notice_once_and_no_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="todo_api")

    database = create_database(parse_database_url(NEON_POOLED), settings())
    await database.open()  # connects lazily: nothing is sent anywhere
    await database.close()

    assert caplog.text.count("channel binding") == 1
    assert "pooled mode" in caplog.text
    assert PASSWORD not in caplog.text


# --- Statements ------------------------------------------------------------------------


def test_a_value_the_statement_has_no_parameter_for_is_an_error_not_dropped() -> None:
    query = Query(sql="SELECT $1", parameters=("title",))

    with pytest.raises(TypeError, match="no_such_column"):
        query.arguments({"title": "t", "no_such_column": "lost"})
    assert query.arguments({"title": "t"}) == ["t"]
