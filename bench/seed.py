"""The dataset, written with `generate_series` in a few statements (seconds, not minutes),
and the small id files the wrk scripts pick random targets from.

Rows go through the real table, so its constraints apply; `created_at` is spread over
about a day (now() minus n seconds) so that keyset paging walks a realistic index, and the
planning fields vary the way a real list's do (see `_PLANNING`), so every sort's index and
every filter meets a realistic mix.
"""

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.config import (
    BIG_USER,
    BIG_USER_TODOS,
    BULK_USER_PREFIX,
    DELETE_USER_PREFIX,
    ID_SAMPLE,
    TODOS_PER_USER,
    USER_PREFIX,
    USERS,
)

_BENCH_ROWS = "bench-%"

_CLEAR = "DELETE FROM todos WHERE user_id LIKE $1"

# The planning fields of a seeded todo, from two pseudo-random 28-bit numbers per row (h
# and g, from an md5 of its identity), so every run seeds the same data:
# - priority: 40% none, 25% low, 20% medium, 15% high;
# - due_at on half of them, from 2 days before creation to 12 days after it, so some open
#   todos are overdue, a few due today and most in the future;
# - tags: each of 8 with a chance of 1 in 8 (about one a todo; a third have none);
# - a completed todo (every fourth) was completed, and last updated, up to an hour after
#   it was created, and updated_at never lies in the future.
_PLANNING = """
       CASE WHEN h % 100 < 40 THEN 0 WHEN h % 100 < 65 THEN 1 WHEN h % 100 < 85 THEN 2
            ELSE 3 END,
       CASE WHEN (h / 100) % 2 = 0
            THEN created + make_interval(secs => (h / 200) % (14 * 86400) - 2 * 86400) END,
       ARRAY(SELECT tag FROM unnest(ARRAY['work', 'home', 'errands', 'urgent', 'health',
                                          'finance', 'reading', 'travel'])
                             WITH ORDINALITY AS names(tag, k)
             WHERE (g >> (3 * (k::int - 1))) & 7 = 0 ORDER BY k)::varchar(40)[],
       CASE WHEN completed THEN updated END,
       created, updated
"""
_COLUMNS = (
    "user_id, title, description, is_completed, priority, due_at, tags, completed_at, "
    "created_at, updated_at"
)
_DRAWN = """
    ('x' || substr(md5(key), 1, 7))::bit(28)::int AS h,
    ('x' || substr(md5(key), 8, 7))::bit(28)::int AS g,
    CASE WHEN completed THEN least(now(), created + make_interval(secs => n % 3600))
         ELSE created END AS updated
"""

# Users interleave in time: todo t of user u is (t - 1) * USERS + u seconds old.
_SEED_USERS = f"""
INSERT INTO todos ({_COLUMNS})
SELECT $1 || lpad(u::text, 4, '0'),
       'Todo ' || t || ' of user ' || u,
       CASE WHEN t % 3 = 0 THEN NULL
            ELSE 'Details for todo ' || t || ': ' || md5(u || '/' || t) END,
       completed, {_PLANNING}
FROM (
    SELECT *, {_DRAWN}
    FROM (
        SELECT u, t, t % 4 = 0 AS completed, u || ':' || t AS key, u * 7919 + t AS n,
               now() - make_interval(secs => (t - 1) * $2 + u) AS created
        FROM generate_series(0, $2 - 1) AS u, generate_series(1, $3) AS t
    ) AS base
) AS rows
"""  # noqa: S608

_SEED_BIG_USER = f"""
INSERT INTO todos ({_COLUMNS})
SELECT $1, 'Long-list todo ' || n,
       CASE WHEN n % 3 = 0 THEN NULL ELSE 'Details for todo ' || n || ': ' || md5(n::text) END,
       completed, {_PLANNING}
FROM (
    SELECT *, {_DRAWN}
    FROM (
        SELECT n, n % 4 = 0 AS completed, 'big:' || n AS key,
               now() - make_interval(secs => n) AS created
        FROM generate_series(1, $2) AS n
    ) AS base
) AS rows
"""  # noqa: S608

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
    """What the wrk scripts read: one user id a line (the seeded users, and the bulk
    creates' users, who start with no todos), and `user_id todo_id` pairs."""

    users: Path
    todos: Path
    bulk_users: Path


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
    files = SeedFiles(
        users=out_dir / "users.txt",
        todos=out_dir / "todos.txt",
        bulk_users=out_dir / "bulk_users.txt",
    )
    files.users.write_text("".join(f"{USER_PREFIX}{u:04d}\n" for u in range(USERS)))
    files.bulk_users.write_text("".join(f"{BULK_USER_PREFIX}{u:04d}\n" for u in range(USERS)))
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
