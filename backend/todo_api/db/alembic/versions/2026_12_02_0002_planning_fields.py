"""Planning fields: priority, due date, tags and completion time, and an index per sort.

The first migration that changes a table holding users' data, so it is written to run on
a live database (decision 0012):

- every new column is nullable or has a constant default: adding it changes only the
  catalog, never rewrites the table;
- the check constraints are added NOT VALID (a brief lock, no scan) and validated after
  a commit, under a lock that lets reads and writes through;
- the indexes are built CONCURRENTLY, outside any transaction;
- `lock_timeout` makes a statement that waits behind a long transaction fail within
  seconds, instead of queueing every request behind its own lock request;
- every statement can run again: a migration cut off half-way is simply run again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_TIMEOUT = "2s"

# Written out rather than derived from the models: a migration is a record of what was
# applied, and must not change when the models do later. A test compares the result with
# the models.
_CONSTRAINTS = {
    "ck_todos_priority_known": "priority BETWEEN 0 AND 3",
    "ck_todos_tags_at_most_20": "cardinality(tags) <= 20",
}
_INDEXES = {
    "ix_todos_user_id_updated_at_desc": "updated_at DESC",
    "ix_todos_user_id_updated_at_asc": "updated_at ASC",
    "ix_todos_user_id_due_at_desc": "coalesce(due_at, '-infinity'::timestamptz) DESC",
    "ix_todos_user_id_due_at_asc": "coalesce(due_at, 'infinity'::timestamptz) ASC",
    "ix_todos_user_id_priority_desc": "priority DESC",
    "ix_todos_user_id_priority_asc": "priority ASC",
}


def _limit_waiting() -> None:
    # For this session: both hold through the commits of autocommit_block. A DDL statement
    # gives up after LOCK_TIMEOUT rather than block traffic; building an index may take
    # as long as it needs (the role may have a statement_timeout of its own).
    op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    op.execute("SET statement_timeout = 0")


def upgrade() -> None:
    _limit_waiting()
    op.execute(
        # A priority is one of four values, and a tag's limit is new with its column:
        # neither will outgrow its type, and a later change of the limit would be its own
        # migration.
        "-- squawk-ignore prefer-bigint-over-smallint, prefer-text-field\n"
        "ALTER TABLE todos"
        " ADD COLUMN IF NOT EXISTS priority smallint DEFAULT 0 NOT NULL,"
        " ADD COLUMN IF NOT EXISTS due_at timestamptz,"
        " ADD COLUMN IF NOT EXISTS tags varchar(40)[] DEFAULT '{}' NOT NULL,"
        " ADD COLUMN IF NOT EXISTS completed_at timestamptz"
    )
    for name, condition in _CONSTRAINTS.items():
        # PostgreSQL has no ADD CONSTRAINT IF NOT EXISTS; dropping first makes a second
        # run possible, and the constraint is new in this revision.
        op.execute(
            "-- squawk-ignore ban-drop-constraint\n"
            f"ALTER TABLE todos DROP CONSTRAINT IF EXISTS {name}"
        )
        op.execute(f"ALTER TABLE todos ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
    with op.get_context().autocommit_block():
        for name in _CONSTRAINTS:
            # Validating takes SHARE UPDATE EXCLUSIVE: reads and writes go on meanwhile.
            op.execute(f"ALTER TABLE todos VALIDATE CONSTRAINT {name}")
        for name, key in _INDEXES.items():
            # A build cut off half-way leaves an invalid index that IF NOT EXISTS would
            # keep; dropping it first makes a second run build it properly.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name}"
                f" ON todos (user_id, {key}, created_at DESC, id DESC)"
            )
    op.execute("RESET lock_timeout")
    op.execute("RESET statement_timeout")


def downgrade() -> None:
    _limit_waiting()
    with op.get_context().autocommit_block():
        for name in _INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    for name in _CONSTRAINTS:
        op.execute(
            "-- squawk-ignore ban-drop-constraint\n"
            f"ALTER TABLE todos DROP CONSTRAINT IF EXISTS {name}"
        )
    # Dropping a column only marks it dropped in the catalog; no rewrite.
    op.execute(
        # The downgrade removes what this revision added.
        "-- squawk-ignore ban-drop-column\n"
        "ALTER TABLE todos"
        " DROP COLUMN IF EXISTS completed_at,"
        " DROP COLUMN IF EXISTS tags,"
        " DROP COLUMN IF EXISTS due_at,"
        " DROP COLUMN IF EXISTS priority"
    )
    op.execute("RESET lock_timeout")
    op.execute("RESET statement_timeout")
