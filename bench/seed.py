"""The dataset, written with `generate_series` in a few statements (seconds, not minutes),
and the small id files the wrk scripts pick random targets from.

Rows go through the real table, so its constraints apply; `created_at` is spread over
about a day (now() minus n seconds) so that keyset paging walks a realistic index.
"""

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.config import (
    BIG_USER,
    BIG_USER_TODOS,
    DELETE_USER_PREFIX,
    ID_SAMPLE,
    TODOS_PER_USER,
    USER_PREFIX,
    USERS,
)

_BENCH_ROWS = "bench-%"

_CLEAR = "DELETE FROM todos WHERE user_id LIKE $1"

# Users interleave in time: todo t of user u is (t - 1) * USERS + u seconds old.
_SEED_USERS = """
INSERT INTO todos (user_id, title, description, is_completed, created_at, updated_at)
SELECT $1 || lpad(u::text, 4, '0'),
       'Todo ' || t || ' of user ' || u,
       CASE WHEN t % 3 = 0 THEN NULL
            ELSE 'Details for todo ' || t || ': ' || md5(u || '/' || t) END,
       t % 4 = 0,
       created, created
FROM (
    SELECT u, t, now() - make_interval(secs => (t - 1) * $2 + u) AS created
    FROM generate_series(0, $2 - 1) AS u, generate_series(1, $3) AS t
) AS rows
"""

_SEED_BIG_USER = """
INSERT INTO todos (user_id, title, description, is_completed, created_at, updated_at)
SELECT $1, 'Long-list todo ' || n,
       CASE WHEN n % 3 = 0 THEN NULL ELSE 'Details for todo ' || n || ': ' || md5(n::text) END,
       n % 4 = 0,
       created, created
FROM (SELECT n, now() - make_interval(secs => n) AS created FROM generate_series(1, $2) AS n)
    AS rows
"""

_SAMPLE = "SELECT user_id, id FROM todos WHERE user_id LIKE $1 ORDER BY random() LIMIT $2"

# Disposable todos for the DELETE run, spread over users of their own so that the
# ordinary users' lists stay as seeded; returned in random order.
_DISPOSABLE = """
WITH inserted AS (
    INSERT INTO todos (user_id, title, is_completed, created_at, updated_at)
    SELECT $1 || lpad((n % $3)::text, 4, '0'), 'Disposable todo ' || n, false, created, created
    FROM (SELECT n, now() - make_interval(secs => n) AS created FROM generate_series(1, $2) AS n)
        AS rows
    RETURNING user_id, id
)
SELECT user_id, id FROM inserted ORDER BY random()
"""


@dataclass(frozen=True, slots=True)
class SeedFiles:
    """What the wrk scripts read: one user id a line, and `user_id todo_id` pairs."""

    users: Path
    todos: Path


def _write_pairs(path: Path, rows: list[asyncpg.Record]) -> None:
    path.write_text("".join(f"{row['user_id']} {row['id']}\n" for row in rows))


async def seed(dsn: str, out_dir: Path) -> SeedFiles:
    """Replace the bench's rows with the dataset and write the id files."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(_CLEAR, _BENCH_ROWS)
        await connection.execute(_SEED_USERS, USER_PREFIX, USERS, TODOS_PER_USER)
        await connection.execute(_SEED_BIG_USER, BIG_USER, BIG_USER_TODOS)
        # A table that has been live for a while is vacuumed and analysed; a freshly
        # loaded one is not, and its first minutes would measure autovacuum instead.
        await connection.execute("VACUUM (ANALYZE) todos")
        sample = await connection.fetch(_SAMPLE, USER_PREFIX + "%", ID_SAMPLE)
    finally:
        await connection.close()
    files = SeedFiles(users=out_dir / "users.txt", todos=out_dir / "todos.txt")
    files.users.write_text("".join(f"{USER_PREFIX}{u:04d}\n" for u in range(USERS)))
    _write_pairs(files.todos, sample)
    return files


async def disposable_todos(dsn: str, count: int, path: Path) -> None:
    """Insert `count` todos only the DELETE run will touch, and list them in `path`."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(_DISPOSABLE, DELETE_USER_PREFIX, count, USERS)
    finally:
        await connection.close()
    _write_pairs(path, rows)


async def server_version(dsn: str) -> str:
    """PostgreSQL's version string, for the machine description."""
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()
