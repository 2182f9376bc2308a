"""Lists, a todo's list, and its place in the list's manual order.

Live-safe, by the rules of 0002 (decision 0012), and decision 0015 for the positions:

- `lists` is a new table; `todos.list_id` and `todos.position` are new nullable columns
  (catalog changes only). The position's default, the next value of a sequence, is set
  in the same transaction as the column, so no todo written meanwhile goes without one
  and none is rewritten to get one;
- the todos that existed before get their places in batches, each its own short
  transaction: per user, newest last, at negative positions, so every place the sequence
  gives later is after them. A batch only fills positions still missing, so the walk can
  be cut off and run again;
- NOT NULL is proven by a CHECK validated under a lock that lets traffic through, then
  set without a scan; the unique index is built CONCURRENTLY and then made the
  constraint; the foreign key is added NOT VALID and validated the same way.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_TIMEOUT = "2s"
GAP = 2**24  # models.todos.POSITION_GAP when this was written

_UNIQUE = "uq_todos_user_id_list_id_position"
_FOREIGN_KEY = "fk_todos_user_id_list_id_lists"
_NOT_NULL = "ck_todos_position_not_null"

# One batch of the walk in the order of ix_todos_user_id_created_at_id (per user, newest
# first): the rest of the previous batch's user, then the next users, each range cut at
# the batch size on its own (as the listing does, decision 0004). Each todo still without
# a position takes the next place of the whole walk, at -place * GAP (GAP is 16777216):
# within a user, older todos come lower, and no two todos anywhere share a place. The
# batch's last key and the last place given are returned (no row: the walk is over).
_BATCH = """
WITH candidates AS (
    (SELECT user_id, id, created_at, position FROM todos
     WHERE user_id = :after_user_id
       AND (created_at, id) < (CAST(:after_created_at AS timestamptz), CAST(:after_id AS uuid))
     ORDER BY created_at DESC, id DESC LIMIT 2000)
    UNION ALL
    (SELECT user_id, id, created_at, position FROM todos
     WHERE user_id > :after_user_id
     ORDER BY user_id, created_at DESC, id DESC LIMIT 2000)
),
batch AS (
    SELECT user_id, id, created_at, position FROM candidates
    ORDER BY user_id, created_at DESC, id DESC LIMIT 2000
),
ranked AS (
    SELECT user_id, id,
        CAST(:after_place AS bigint)
        + row_number() OVER (ORDER BY user_id, created_at DESC, id DESC) AS place
    FROM batch WHERE position IS NULL
),
placed AS (
    UPDATE todos SET position = -ranked.place * 16777216
    FROM ranked
    WHERE todos.user_id = ranked.user_id AND todos.id = ranked.id AND todos.position IS NULL
    RETURNING todos.id
)
SELECT user_id, id, created_at,
    (SELECT coalesce(max(place), CAST(:after_place AS bigint)) FROM ranked) AS last_place
FROM batch
ORDER BY user_id DESC, created_at, id LIMIT 1
"""
# A walk run again after one cut off half-way starts below every place given so far.
_FIRST_PLACE = "SELECT coalesce(-min(position) / 16777216, 0) FROM todos WHERE position < 0"
_START = {
    "after_user_id": "",
    "after_created_at": datetime(9999, 12, 31, tzinfo=UTC),
    "after_id": "00000000-0000-0000-0000-000000000000",
    "after_place": 0,
}


def _limit_waiting() -> None:
    op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute("SET statement_timeout = 0")


def _place_existing_todos() -> None:
    if context.is_offline_mode():
        # The first batch, for the linter and a DBA: each next one starts after the key
        # the previous one returned, until one returns no row.
        op.execute(sa.text(_BATCH).bindparams(**_START))
        return
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        after = {**_START, "after_place": bind.execute(sa.text(_FIRST_PLACE)).scalar_one()}
        while True:
            last = bind.execute(sa.text(_BATCH), after).first()
            if last is None:
                return
            after = {
                "after_user_id": last.user_id,
                "after_created_at": last.created_at,
                "after_id": str(last.id),
                "after_place": last.last_place,
            }


def upgrade() -> None:
    _limit_waiting()
    op.execute(
        # A list's name has the limit of its schema, like a todo's title.
        "-- squawk-ignore prefer-text-field\n"
        "CREATE TABLE IF NOT EXISTS lists ("
        " name varchar(100) NOT NULL,"
        " user_id varchar(128) NOT NULL,"
        " id uuid DEFAULT gen_random_uuid() NOT NULL,"
        " created_at timestamptz DEFAULT now() NOT NULL,"
        " updated_at timestamptz DEFAULT now() NOT NULL,"
        " CONSTRAINT pk_lists PRIMARY KEY (user_id, id),"
        " CONSTRAINT ck_lists_name_not_blank CHECK (btrim(name) <> ''))"
    )
    # The table is new and empty: building its indexes locks nothing anyone uses.
    op.execute(
        "-- squawk-ignore require-concurrent-index-creation\n"
        "CREATE UNIQUE INDEX IF NOT EXISTS uq_lists_user_id_lower_name"
        " ON lists (user_id, lower(name))"
    )
    op.execute(
        "-- squawk-ignore require-concurrent-index-creation\n"
        "CREATE INDEX IF NOT EXISTS ix_lists_user_id_created_at_id"
        " ON lists (user_id, created_at, id)"
    )
    op.execute("CREATE SEQUENCE IF NOT EXISTS todos_position_seq AS bigint")
    op.execute(
        "ALTER TABLE todos ADD COLUMN IF NOT EXISTS list_id uuid,"
        " ADD COLUMN IF NOT EXISTS position bigint"
    )
    # Setting a default never rewrites a table (unlike adding a column with a volatile
    # one); in this transaction, no todo is written between the column and its default.
    # (Setting the same default twice is harmless, so a second run may do it again.)
    op.execute(
        "-- squawk-ignore prefer-robust-stmts\n"
        f"ALTER TABLE todos ALTER COLUMN position SET DEFAULT nextval('todos_position_seq') * {GAP}"
    )
    op.execute(
        "-- squawk-ignore ban-drop-constraint\n"
        f"ALTER TABLE todos DROP CONSTRAINT IF EXISTS {_FOREIGN_KEY}"
    )
    op.execute(
        f"ALTER TABLE todos ADD CONSTRAINT {_FOREIGN_KEY} FOREIGN KEY (user_id, list_id)"
        " REFERENCES lists (user_id, id) NOT VALID"
    )
    _place_existing_todos()
    # Only now: a NOT VALID check still holds every row written, and the old code's
    # updates of a todo not yet placed would fail it.
    op.execute(
        "-- squawk-ignore ban-drop-constraint\n"
        f"ALTER TABLE todos DROP CONSTRAINT IF EXISTS {_NOT_NULL}"
    )
    op.execute(
        f"ALTER TABLE todos ADD CONSTRAINT {_NOT_NULL} CHECK (position IS NOT NULL) NOT VALID"
    )
    with op.get_context().autocommit_block():
        # SHARE UPDATE EXCLUSIVE: reads and writes go on while these scan.
        op.execute(f"ALTER TABLE todos VALIDATE CONSTRAINT {_FOREIGN_KEY}")
        op.execute(f"ALTER TABLE todos VALIDATE CONSTRAINT {_NOT_NULL}")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_UNIQUE}")
        op.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {_UNIQUE}"
            " ON todos (user_id, list_id, position) NULLS NOT DISTINCT"
        )
    # With a valid CHECK proving it, SET NOT NULL reads no row.
    op.execute("ALTER TABLE todos ALTER COLUMN position SET NOT NULL")
    op.execute(
        "-- squawk-ignore ban-drop-constraint\n"
        f"ALTER TABLE todos DROP CONSTRAINT IF EXISTS {_NOT_NULL}"
    )
    op.execute(
        f"ALTER TABLE todos ADD CONSTRAINT {_UNIQUE} UNIQUE USING INDEX {_UNIQUE}"
        " DEFERRABLE INITIALLY IMMEDIATE"
    )
    op.execute("RESET lock_timeout")
    op.execute("RESET statement_timeout")


def downgrade() -> None:
    _limit_waiting()
    for name in (_UNIQUE, _FOREIGN_KEY, _NOT_NULL):
        op.execute(
            "-- squawk-ignore ban-drop-constraint\n"
            f"ALTER TABLE todos DROP CONSTRAINT IF EXISTS {name}"
        )
    op.execute(
        # The downgrade removes what this revision added.
        "-- squawk-ignore ban-drop-column\n"
        "ALTER TABLE todos DROP COLUMN IF EXISTS position, DROP COLUMN IF EXISTS list_id"
    )
    op.execute("DROP SEQUENCE IF EXISTS todos_position_seq")
    op.execute("-- squawk-ignore ban-drop-table\nDROP TABLE IF EXISTS lists")
    op.execute("RESET lock_timeout")
    op.execute("RESET statement_timeout")
