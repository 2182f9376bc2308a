"""The change feed: which transaction last wrote each todo and list, and tombstones
(decision 0017).

Live-safe, by the rules of 0002 (decision 0012) and the pattern of 0004:

- `tombstones` is a new table, and its indexes are built while nothing uses it;
- `todos.change_xid` and `lists.change_xid` are added nullable and without a default
  (catalog changes only: a column added with a volatile default such as
  `pg_current_xact_id()` would rewrite the table under an exclusive lock). The default
  is set in the same short transaction, so every row inserted from then on has one;
- the rows that existed before are filled in batches in primary-key order, each batch
  its own short transaction, only rows still without a value, so the walk can be cut
  off and run again. Each batch writes its own transaction id, which is what the column
  means: the transaction that last wrote the row. `updated_at` is left alone;
- NOT NULL is proven by a CHECK added NOT VALID and validated under a lock that lets
  traffic through, then set without a scan; the feed's indexes are built CONCURRENTLY.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_TIMEOUT = "2s"
TABLES = ("todos", "lists")
BATCH_SIZE = 5000

# One batch of the walk over `table`'s primary key: the next keys after the previous
# batch's last, the rows among them still without a change_xid filled with this
# transaction's id, and the batch's last key returned (no row: the walk is over).
_BATCH = """
WITH batch AS (
    SELECT user_id, id FROM {table}
    WHERE (user_id, id) > (:after_user_id, CAST(:after_id AS uuid))
    ORDER BY user_id, id LIMIT {size}
),
filled AS (
    UPDATE {table} SET change_xid = pg_current_xact_id()
    FROM batch
    WHERE {table}.user_id = batch.user_id AND {table}.id = batch.id
      AND {table}.change_xid IS NULL
    RETURNING {table}.id
)
SELECT user_id, id FROM batch ORDER BY user_id DESC, id DESC LIMIT 1
"""
_START = {"after_user_id": "", "after_id": "00000000-0000-0000-0000-000000000000"}


def _index(table: str) -> str:
    return f"ix_{table}_user_id_change_xid_id"


def _not_null(table: str) -> str:
    return f"ck_{table}_change_xid_not_null"


def _limit_waiting() -> None:
    op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute("SET statement_timeout = 0")


def _fill_existing_rows(table: str) -> None:
    batch = sa.text(_BATCH.format(table=table, size=BATCH_SIZE))
    if context.is_offline_mode():
        # The first batch, for the linter and a DBA: each next one starts after the key
        # the previous one returned, until one returns no row.
        op.execute(batch.bindparams(**_START))
        return
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        after = dict(_START)
        while True:
            last = bind.execute(batch, after).first()
            if last is None:
                return
            after = {"after_user_id": last.user_id, "after_id": str(last.id)}


def upgrade() -> None:
    _limit_waiting()
    op.execute(
        # user_id has the limit of its schema, as in todos and lists.
        "-- squawk-ignore prefer-text-field\n"
        "CREATE TABLE IF NOT EXISTS tombstones ("
        " user_id varchar(128) NOT NULL,"
        " type text NOT NULL,"
        " id uuid NOT NULL,"
        " deleted_at timestamptz DEFAULT now() NOT NULL,"
        " change_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,"
        " CONSTRAINT pk_tombstones PRIMARY KEY (user_id, type, id),"
        " CONSTRAINT ck_tombstones_type_known CHECK (type IN ('list', 'todo')))"
    )
    # The table is new and empty: building its indexes locks nothing anyone uses.
    op.execute(
        "-- squawk-ignore require-concurrent-index-creation\n"
        "CREATE INDEX IF NOT EXISTS ix_tombstones_user_id_change_xid_type_id"
        " ON tombstones (user_id, change_xid, type, id)"
    )
    op.execute(
        "-- squawk-ignore require-concurrent-index-creation\n"
        "CREATE INDEX IF NOT EXISTS ix_tombstones_deleted_at ON tombstones (deleted_at)"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS change_xid xid8")
        # Setting a default never rewrites a table (unlike adding a column with a volatile
        # one); in this transaction, no row is inserted between the column and its default.
        # (Setting the same default twice is harmless, so a second run may do it again.)
        op.execute(
            "-- squawk-ignore prefer-robust-stmts\n"
            f"ALTER TABLE {table} ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id()"
        )
    for table in TABLES:
        _fill_existing_rows(table)
    for table in TABLES:
        op.execute(
            "-- squawk-ignore ban-drop-constraint\n"
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {_not_null(table)}"
        )
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {_not_null(table)}"
            " CHECK (change_xid IS NOT NULL) NOT VALID"
        )
    with op.get_context().autocommit_block():
        for table in TABLES:
            # SHARE UPDATE EXCLUSIVE: reads and writes go on while these scan.
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {_not_null(table)}")
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_index(table)}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_index(table)}"
                f" ON {table} (user_id, change_xid, id)"
            )
    for table in TABLES:
        # With a valid CHECK proving it, SET NOT NULL reads no row.
        op.execute(f"ALTER TABLE {table} ALTER COLUMN change_xid SET NOT NULL")
        op.execute(
            "-- squawk-ignore ban-drop-constraint\n"
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {_not_null(table)}"
        )
    op.execute("RESET lock_timeout")
    op.execute("RESET statement_timeout")


def downgrade() -> None:
    _limit_waiting()
    with op.get_context().autocommit_block():
        for table in TABLES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_index(table)}")
    for table in TABLES:
        op.execute(
            "-- squawk-ignore ban-drop-constraint\n"
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {_not_null(table)}"
        )
        op.execute(
            # The downgrade removes what this revision added.
            "-- squawk-ignore ban-drop-column\n"
            f"ALTER TABLE {table} DROP COLUMN IF EXISTS change_xid"
        )
    op.execute("-- squawk-ignore ban-drop-table\nDROP TABLE IF EXISTS tombstones")
    op.execute("RESET lock_timeout")
    op.execute("RESET statement_timeout")
