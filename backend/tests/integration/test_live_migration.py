"""Migrations 0002 and 0003 run on a live database: writes go on, nothing is lost, they
cannot hang. (0003 rewrites the rows that are not NFC, in batches: here it reads the
100,000 rows and finds nothing to rewrite, under the same writes.)

A fresh database is migrated to 0001 only and seeded with 100,000 todos. Then it is
upgraded to head, downgraded to 0001 and upgraded again, each time while two clients of
the 0001 schema (plain asyncpg, only 0001's columns) keep inserting todos and changing
titles and completion. Every write must succeed, some must happen while the migration
runs, and afterwards every row must be there exactly as the seed and the acknowledged
writes left it; the schema must be exactly the revision's, every index valid.

A migration that meets a long transaction must give up within its `lock_timeout`, not
queue every request of the app behind its lock request, and a second run after the
transaction ends must finish the job, whether the first one stopped before changing
anything or half-way through building the indexes.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from tests.conftest import DatabaseFactory, url_string
from todo_api.db import migrate
from todo_api.db.migrate import head_revision, upgrade_to_head
from todo_api.db.url import parse_database_url

SEEDED = 100_000
USERS = 100

COLUMNS_0001 = {
    "user_id",
    "id",
    "title",
    "description",
    "is_completed",
    "created_at",
    "updated_at",
}
COLUMNS_0002 = {"priority", "due_at", "tags", "completed_at"}
INDEXES_0001 = {"pk_todos", "ix_todos_user_id_created_at_id"}
INDEXES_0002 = {
    f"ix_todos_user_id_{key}_{direction}"
    for key in ("updated_at", "due_at", "priority")
    for direction in ("asc", "desc")
}
CONSTRAINTS_0001 = {"pk_todos", "ck_todos_title_not_blank"}
CONSTRAINTS_0002 = {"ck_todos_priority_known", "ck_todos_tags_at_most_20"}
COLUMNS_0004 = {"list_id", "position"}
INDEXES_0004 = {"uq_todos_user_id_list_id_position"}
CONSTRAINTS_0004 = {"uq_todos_user_id_list_id_position", "fk_todos_user_id_list_id_lists"}
COLUMNS_0005 = {"change_xid"}
INDEXES_0005 = {"ix_todos_user_id_change_xid_id"}

_SEED = """
INSERT INTO todos (user_id, title, description, is_completed, created_at, updated_at)
SELECT 'user-' || (i % $2::int), 'seeded todo ' || i,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'description ' || i END,
       i % 3 = 0,
       timestamptz '2026-01-01' + i * interval '1 second',
       timestamptz '2026-01-01' + i * interval '1 second' + (i % 97) * interval '1 minute'
FROM generate_series(1, $1::int) AS i
"""

Key = tuple[str, uuid.UUID]
Row = tuple[str, str | None, bool, datetime, datetime]


async def _connect(url: URL) -> asyncpg.Connection:
    return await asyncpg.connect(**parse_database_url(url_string(url)).connect_kwargs)


@asynccontextmanager
async def _connection(url: URL) -> AsyncIterator[asyncpg.Connection]:
    connection = await _connect(url)
    try:
        yield connection
    finally:
        await connection.close()


async def _rows(url: URL) -> dict[Key, Row]:
    """Every todo by its key, with all of 0001's columns."""
    async with _connection(url) as connection:
        records = await connection.fetch(
            "SELECT user_id, id, title, description, is_completed, created_at, updated_at"
            " FROM todos"
        )
    return {
        (r["user_id"], r["id"]): (
            r["title"],
            r["description"],
            r["is_completed"],
            r["created_at"],
            r["updated_at"],
        )
        for r in records
    }


@dataclass
class Schema:
    version: str
    columns: set[str]
    indexes: dict[str, tuple[bool, bool]]  # whether each is valid, and ready
    constraints: dict[str, bool]  # whether each is validated


async def _schema(url: URL) -> Schema:
    async with _connection(url) as connection:
        version = await connection.fetchval("SELECT version_num FROM alembic_version")
        columns = await connection.fetch(
            "SELECT attname FROM pg_attribute"
            " WHERE attrelid = 'todos'::regclass AND attnum > 0 AND NOT attisdropped"
        )
        indexes = await connection.fetch(
            "SELECT c.relname, i.indisvalid, i.indisready FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'todos'::regclass"
        )
        constraints = await connection.fetch(
            "SELECT conname, convalidated FROM pg_constraint"
            # PostgreSQL 18 lists NOT NULL as constraints too; the columns say those.
            " WHERE conrelid = 'todos'::regclass AND contype <> 'n'"
        )
    return Schema(
        version=version,
        columns={r["attname"] for r in columns},
        indexes={r["relname"]: (r["indisvalid"], r["indisready"]) for r in indexes},
        constraints={r["conname"]: r["convalidated"] for r in constraints},
    )


def _assert_at_0001(schema: Schema) -> None:
    assert schema.version == "0001"
    assert schema.columns == COLUMNS_0001
    assert schema.indexes == dict.fromkeys(INDEXES_0001, (True, True))
    assert schema.constraints == dict.fromkeys(CONSTRAINTS_0001, True)


def _assert_at_head(schema: Schema) -> None:
    assert schema.version == head_revision()  # 0003 rewrites rows and adds no schema
    assert schema.columns == COLUMNS_0001 | COLUMNS_0002 | COLUMNS_0004 | COLUMNS_0005
    # Valid (used by queries) and ready (kept up to date by writes): a build cut short
    # would leave one that is neither.
    indexes = INDEXES_0001 | INDEXES_0002 | INDEXES_0004 | INDEXES_0005
    assert schema.indexes == dict.fromkeys(indexes, (True, True))
    constraints = CONSTRAINTS_0001 | CONSTRAINTS_0002 | CONSTRAINTS_0004
    assert schema.constraints == dict.fromkeys(constraints, True)


async def _new_columns_hold_their_defaults(url: URL) -> None:
    async with _connection(url) as connection:
        counts = await connection.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE priority = 0 AND tags = '{}'"
            " AND due_at IS NULL AND completed_at IS NULL AND list_id IS NULL) AS defaults"
            " FROM todos"
        )
        # Every todo has a place, each user's todos in the order they were made: those
        # placed by the migration (at negative positions), then those the old code wrote
        # meanwhile (placed by the column's default).
        misplaced = await connection.fetchval(
            "SELECT count(*) FROM ("
            " SELECT position, lag(position) OVER ("
            "  PARTITION BY user_id ORDER BY created_at, id) AS previous FROM todos) AS t"
            " WHERE position IS NULL OR position <= previous"
        )
    assert counts is not None
    assert counts["defaults"] == counts["total"]
    assert misplaced == 0


async def _placed_by_default(url: URL) -> int:
    """Todos the old code wrote after the position's default was set."""
    async with _connection(url) as connection:
        placed: int = await connection.fetchval("SELECT count(*) FROM todos WHERE position > 0")
    return placed


@dataclass
class Writes:
    """Writes acknowledged by the server, applied to the rows as they should now be."""

    expected: dict[Key, Row]
    # (start, end) of each acknowledged write, on the monotonic clock.
    spans: list[tuple[float, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Set once a few writes are acknowledged in a round: the clients are under way.
    under_way: asyncio.Event = field(default_factory=asyncio.Event)

    def acknowledged(self, began: float) -> None:
        self.spans.append((began, time.monotonic()))
        if len(self.spans) % 10 == 0:
            self.under_way.set()

    def during(self, start: float, end: float) -> int:
        """How many writes were sent after `start` and acknowledged before `end`."""
        return sum(1 for began, ended in self.spans if began >= start and ended <= end)


async def _insert_until(
    stop: asyncio.Event, connection: asyncpg.Connection, writes: Writes
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        user_id, title = f"writer-{number % 7}", f"written during the migration {number}"
        began = time.monotonic()
        try:
            row = await connection.fetchrow(
                "INSERT INTO todos (user_id, title) VALUES ($1, $2)"
                " RETURNING id, description, is_completed, created_at, updated_at",
                user_id,
                title,
            )
        except (asyncpg.PostgresError, OSError) as exc:
            writes.failures.append(f"insert {number}: {exc!r}")
            continue
        assert row is not None
        writes.acknowledged(began)
        writes.expected[(user_id, row["id"])] = (
            title,
            row["description"],
            row["is_completed"],
            row["created_at"],
            row["updated_at"],
        )
        await asyncio.sleep(0.002)  # a busy client, not a benchmark: the CPUs are shared


async def _update_until(
    stop: asyncio.Event, connection: asyncpg.Connection, writes: Writes, targets: list[Key]
) -> None:
    number = 0
    while not stop.is_set():
        key = targets[number % len(targets)]
        number += 1
        title = f"changed during the migration {number}"
        began = time.monotonic()
        try:
            row = await connection.fetchrow(
                "UPDATE todos SET title = $3, is_completed = NOT is_completed"
                " WHERE user_id = $1 AND id = $2 RETURNING is_completed",
                *key,
                title,
            )
        except (asyncpg.PostgresError, OSError) as exc:
            writes.failures.append(f"update {number}: {exc!r}")
            continue
        if row is None:
            writes.failures.append(f"update {number}: {key} not found")
            continue
        writes.acknowledged(began)
        _, description, _, created_at, updated_at = writes.expected[key]
        writes.expected[key] = (title, description, row["is_completed"], created_at, updated_at)
        await asyncio.sleep(0.002)


async def _migrate_under_writes(url: URL, writes: Writes, step: Callable[[], None]) -> int:
    """Run `step` (a blocking migration command) in a thread while two clients write;
    the number of writes made while it ran."""
    targets = sorted(key for key in writes.expected if key[0].startswith("user-"))[::997]
    stop = asyncio.Event()
    async with _connection(url) as inserting, _connection(url) as updating:
        tasks = [
            asyncio.create_task(_insert_until(stop, inserting, writes)),
            asyncio.create_task(_update_until(stop, updating, writes, targets)),
        ]
        try:
            writes.under_way.clear()
            await writes.under_way.wait()  # the clients are writing before it starts
            started = time.monotonic()
            await asyncio.to_thread(step)
            finished = time.monotonic()
            await asyncio.sleep(0.05)  # and still writing once it is done
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    return writes.during(started, finished)


@pytest.fixture
async def database_at_0001(databases: DatabaseFactory) -> URL:
    url = await databases.create(migrated=False)
    await asyncio.to_thread(command.upgrade, migrate.alembic_config(url), "0001")
    return url


def _upgrade(url: URL) -> Callable[[], None]:
    return lambda: upgrade_to_head(url)


def _downgrade_to_0001(url: URL) -> Callable[[], None]:
    return lambda: command.downgrade(migrate.alembic_config(url), "0001")


async def test_the_migration_runs_under_writes_and_keeps_every_row(
    database_at_0001: URL,
) -> None:
    url = database_at_0001
    async with _connection(url) as connection:
        await connection.execute(_SEED, SEEDED, USERS)
        # As autovacuum would soon leave the table; left to it, its ANALYZE could take the
        # table's SHARE UPDATE EXCLUSIVE lock just as the migration wants it.
        await connection.execute("VACUUM (ANALYZE) todos")
    seeded = await _rows(url)
    assert len(seeded) == SEEDED
    writes = Writes(expected=dict(seeded))

    during_upgrade = await _migrate_under_writes(url, writes, _upgrade(url))
    assert writes.failures == []
    assert during_upgrade > 0
    assert await _rows(url) == writes.expected
    _assert_at_head(await _schema(url))
    await _new_columns_hold_their_defaults(url)
    assert await _placed_by_default(url) > 0

    during_downgrade = await _migrate_under_writes(url, writes, _downgrade_to_0001(url))
    assert writes.failures == []
    assert during_downgrade > 0
    assert await _rows(url) == writes.expected
    _assert_at_0001(await _schema(url))

    during_upgrade_again = await _migrate_under_writes(url, writes, _upgrade(url))
    assert writes.failures == []
    assert during_upgrade_again > 0
    assert await _rows(url) == writes.expected
    _assert_at_head(await _schema(url))
    await _new_columns_hold_their_defaults(url)

    # Every seeded row is still there, the changed ones with their last acknowledged
    # change, alongside every acknowledged insert.
    final = await _rows(url)
    assert seeded.keys() <= final.keys()
    assert len(final) == SEEDED + sum(1 for key in final if key[0].startswith("writer-"))


@asynccontextmanager
async def _blocking_transaction(url: URL, blocker: str) -> AsyncIterator[None]:
    """An open transaction of another client, ended when the block ends."""
    async with _connection(url) as connection:
        transaction = connection.transaction(isolation="repeatable_read")
        await transaction.start()
        try:
            if blocker == "lock":
                # Reading todos holds ACCESS SHARE on it to the end of the transaction,
                # which ALTER TABLE ... ADD COLUMN (ACCESS EXCLUSIVE) must wait for.
                await connection.fetchval("SELECT count(*) FROM todos")
            else:
                # No lock on todos, but a snapshot older than the index builds, which
                # CREATE INDEX CONCURRENTLY waits for before it may finish.
                await connection.fetchval("SELECT 1")
            yield
        finally:
            await transaction.rollback()


def _lock_timeout(error: DBAPIError) -> bool:
    cause: Any = error.orig.__cause__ if error.orig is not None else None
    return isinstance(cause, asyncpg.LockNotAvailableError)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "blocker",
    ["lock", "snapshot"],
    ids=["a transaction that read todos", "a transaction with an older snapshot"],
)
async def test_the_migration_gives_up_behind_a_long_transaction_and_runs_again_after(
    database_at_0001: URL, blocker: str
) -> None:
    url = database_at_0001
    async with _connection(url) as connection:
        await connection.execute(_SEED, 1000, 10)
    before = await _rows(url)

    async with _blocking_transaction(url, blocker):
        with pytest.raises(DBAPIError) as raised:
            await asyncio.to_thread(upgrade_to_head, url)
        assert _lock_timeout(raised.value), raised.value

        stopped = await _schema(url)
        assert stopped.version == "0001"
        if blocker == "lock":
            # Stopped at the first statement; its transaction rolled back.
            _assert_at_0001(stopped)
        else:
            # Stopped at the first index build: the columns and constraints are in, that
            # index is left invalid, the others not begun.
            assert stopped.columns == COLUMNS_0001 | COLUMNS_0002
            assert stopped.constraints == dict.fromkeys(CONSTRAINTS_0001 | CONSTRAINTS_0002, True)
            invalid = {name for name, (valid, _) in stopped.indexes.items() if not valid}
            assert len(invalid) == 1
            assert invalid <= INDEXES_0002

    await asyncio.to_thread(upgrade_to_head, url)
    _assert_at_head(await _schema(url))
    assert await _rows(url) == before
    await _new_columns_hold_their_defaults(url)
