"""Text is normalized to NFC on the way in, so one text has one spelling to store, compare
and search, and rows written before that are normalized by migration 0003."""

import asyncio

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import DatabaseFactory
from tests.helpers import assert_validation_error, create_todo, todos_url
from todo_api.db import migrate

DECOMPOSED = "Cafe\u0301"  # e, then a combining acute accent
COMPOSED = "Caf\u00e9"


async def test_titles_and_descriptions_are_stored_composed(client: httpx.AsyncClient) -> None:
    todo = await create_todo(client, "alice", title=DECOMPOSED, description=f"at the {DECOMPOSED}")

    assert todo["title"] == COMPOSED
    assert todo["description"] == f"at the {COMPOSED}"


async def test_a_search_finds_a_text_however_either_side_spells_it(
    client: httpx.AsyncClient,
) -> None:
    await create_todo(client, "alice", title=f"{COMPOSED} with Ann")

    for spelling in (COMPOSED, DECOMPOSED, DECOMPOSED.lower()):
        page = (await client.get(todos_url("alice"), params={"q": spelling})).json()
        assert page["count"] == 1, spelling


async def test_a_title_of_only_invisible_characters_is_blank(client: httpx.AsyncClient) -> None:
    for invisible in ("\u200b", "\ufeff", "\u200b\u200c\u200d", " \u2060 "):
        response = await client.post(todos_url("alice"), json={"title": invisible})
        body = assert_validation_error(response, "body.title")
        assert body["field_errors"][0]["message"] == "title must not be blank"


async def test_the_migration_normalizes_the_rows_written_before(databases: DatabaseFactory) -> None:
    url: URL = await databases.create(migrated=False)
    config = migrate.alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "0002")
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO todos (user_id, title, description, updated_at) "
                    "SELECT 'old', :title || g, :title, now() - interval '1 day' "
                    "FROM generate_series(1, 2500) g"
                ),
                {"title": DECOMPOSED},
            )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.text("SELECT title, description, updated_at < now() FROM todos")
                )
            ).all()
    finally:
        await engine.dispose()

    assert len(rows) == 2500
    assert all(
        title.startswith(COMPOSED) and description == COMPOSED for title, description, _ in rows
    )
    assert all(kept for *_, kept in rows), "updated_at is left as it was"
