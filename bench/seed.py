"""The dataset, written with `generate_series` in a few statements (seconds, not minutes),
and the small id files the wrk scripts pick random targets from.

Rows go through the real table, so its constraints apply; `created_at` is spread over
about a day (now() minus n seconds) so that keyset paging walks a realistic index, and the
planning fields vary the way a real list's do (see `_PLANNING`), so every sort's index and
every filter meets a realistic mix. Every seeded user has lists (`_SEED_LISTS`) holding
most of their todos; a todo's position is the column's default, the next value of the
sequence times the gap, as for any todo created at the end of its list.
"""

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.config import (
    BIG_USER,
    BIG_USER_LISTS,
    BIG_USER_TODOS,
    BULK_USER_PREFIX,
    DELETE_USER_PREFIX,
    ID_SAMPLE,
    MOVED_LIST,
    TODOS_PER_USER,
    USER_LISTS,
    USER_PREFIX,
    USERS,
)

_BENCH_ROWS = "bench-%"

# Todos first: a todo's list must exist as long as the todo does. Then what earlier runs
# left of the bench's users in the change feed's tombstones and the Idempotency-Keys.
_CLEAR = (
    "DELETE FROM todos WHERE user_id LIKE $1",
    "DELETE FROM lists WHERE user_id LIKE $1",
    "DELETE FROM tombstones WHERE user_id LIKE $1",
    "DELETE FROM idempotency_keys WHERE user_id LIKE $1",
)

# The ordinary users' lists, each user the same names (USER_LISTS), and the long list's
# user's projects, "Project 1" ... The todos' INSERTs find them by (user, name).
_SEED_LISTS = """
INSERT INTO lists (user_id, name)
SELECT $1 || lpad(u::text, 4, '0'), name
FROM generate_series(0, $2 - 1) AS u, unnest($3::text[]) AS name
"""
_SEED_BIG_USER_LISTS = """
INSERT INTO lists (user_id, name)
SELECT $1, 'Project ' || k FROM generate_series(1, $2) AS k
"""
# Todo t of an ordinary user by t % 10: 0-5 in the first list (60 of 100: a page of 50 in
# position order has a next page), 6-7 in the second, 8 in the third, 9 in no list.
_USER_LIST = f"""
CASE WHEN t % 10 < 6 THEN '{USER_LISTS[0]}' WHEN t % 10 < 8 THEN '{USER_LISTS[1]}'
     WHEN t % 10 = 8 THEN '{USER_LISTS[2]}' END
"""

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
    "created_at, updated_at, list_id"
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
SELECT rows.user_id,
       'Todo ' || t || ' of user ' || u,
       CASE WHEN t % 3 = 0 THEN NULL
            ELSE 'Details for todo ' || t || ': ' || md5(u || '/' || t) END,
       completed, {_PLANNING}, lists.id
FROM (
    SELECT *, {_DRAWN}
    FROM (
        SELECT u, t, t % 4 = 0 AS completed, u || ':' || t AS key, u * 7919 + t AS n,
               now() - make_interval(secs => (t - 1) * $2 + u) AS created,
               $1 || lpad(u::text, 4, '0') AS user_id, {_USER_LIST} AS list_name
        FROM generate_series(0, $2 - 1) AS u, generate_series(1, $3) AS t
    ) AS base
) AS rows
LEFT JOIN lists ON lists.user_id = rows.user_id AND lists.name = rows.list_name
"""  # noqa: S608

_SEED_BIG_USER = f"""
INSERT INTO todos ({_COLUMNS})
SELECT $1, 'Long-list todo ' || n,
       CASE WHEN n % 3 = 0 THEN NULL ELSE 'Details for todo ' || n || ': ' || md5(n::text) END,
       completed, {_PLANNING}, lists.id
FROM (
    SELECT *, {_DRAWN}
    FROM (
        SELECT n, n % 4 = 0 AS completed, 'big:' || n AS key,
               now() - make_interval(secs => n) AS created,
               -- one in (projects + 1) in no list, the others spread over the projects
               CASE WHEN n % ($3 + 1) > 0 THEN 'Project ' || n % ($3 + 1) END AS list_name
        FROM generate_series(1, $2) AS n
    ) AS base
) AS rows
LEFT JOIN lists ON lists.user_id = $1 AND lists.name = rows.list_name
"""  # noqa: S608

# The lists the listing in position order and the moves pick from: each ordinary user's
# first list, its todos in position order.
_MOVED_LISTS = """
SELECT lists.user_id, lists.id, array_agg(todos.id ORDER BY todos.position) AS todos
FROM lists JOIN todos ON todos.user_id = lists.user_id AND todos.list_id = lists.id
WHERE lists.user_id LIKE $1 AND lists.name = $2
GROUP BY lists.user_id, lists.id
ORDER BY lists.user_id
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
    """What the wrk scripts read: one user id a line (the seeded users, and the bulk
    creates' users, who start with no todos), `user_id todo_id` pairs, and one list a
    line, `user_id list_id todo_id ...` (its todos in position order, as seeded)."""

    users: Path
    todos: Path
    bulk_users: Path
    lists: Path


def _write_pairs(path: Path, rows: list[asyncpg.Record]) -> None:
    path.write_text("".join(f"{row['user_id']} {row['id']}\n" for row in rows))


async def seed(dsn: str, out_dir: Path) -> SeedFiles:
    """Replace the bench's rows with the dataset and write the id files."""
    connection = await asyncpg.connect(dsn)
    try:
        for clear in _CLEAR:
            await connection.execute(clear, _BENCH_ROWS)
        await connection.execute(_SEED_LISTS, USER_PREFIX, USERS, list(USER_LISTS))
        await connection.execute(_SEED_BIG_USER_LISTS, BIG_USER, BIG_USER_LISTS)
        await connection.execute(_SEED_USERS, USER_PREFIX, USERS, TODOS_PER_USER)
        await connection.execute(_SEED_BIG_USER, BIG_USER, BIG_USER_TODOS, BIG_USER_LISTS)
        # A table that has been live for a while is vacuumed and analysed; a freshly
        # loaded one is not, and its first minutes would measure autovacuum instead.
        await connection.execute("VACUUM (ANALYZE) lists")
        await connection.execute("VACUUM (ANALYZE) todos")
        sample = await connection.fetch(_SAMPLE, USER_PREFIX + "%", ID_SAMPLE)
        moved = await connection.fetch(_MOVED_LISTS, USER_PREFIX + "%", MOVED_LIST)
    finally:
        await connection.close()
    files = SeedFiles(
        users=out_dir / "users.txt",
        todos=out_dir / "todos.txt",
        bulk_users=out_dir / "bulk_users.txt",
        lists=out_dir / "lists.txt",
    )
    files.users.write_text("".join(f"{USER_PREFIX}{u:04d}\n" for u in range(USERS)))
    files.bulk_users.write_text("".join(f"{BULK_USER_PREFIX}{u:04d}\n" for u in range(USERS)))
    _write_pairs(files.todos, sample)
    files.lists.write_text(
        "".join(
            " ".join((row["user_id"], str(row["id"]), *map(str, row["todos"]))) + "\n"
            for row in moved
        )
    )
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
