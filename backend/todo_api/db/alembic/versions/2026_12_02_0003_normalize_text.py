"""Titles and descriptions in Unicode NFC, as the API now stores them.

The API normalizes text to NFC on the way in ("Cafe\\u0301" is stored "Café"), so that one
text has one spelling to compare and search. Rows written before keep whatever spelling
they were sent in until this migration rewrites them. It runs on a live database:

- in batches of the primary key's order, each its own short transaction (the rows of one
  batch are locked only while it runs), walking the table once;
- only rows that are not already NFC are written, so on a table of ASCII text it only
  reads;
- `updated_at` is left alone: the text means the same, and a client that syncs by it has
  nothing new to fetch;
- it can run again, and be cut off anywhere: a second run finds nothing left to do.

`normalize()` needs a UTF8 database (as Neon's and the embedded one are); on any other
encoding there is nothing this migration can do, and it says so.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

# One batch: the next 5,000 keys after the last one, the rows among them that are not NFC
# rewritten, and the batch's last key returned (none: the walk is over).
_BATCH = """
WITH batch AS (
    SELECT user_id, id FROM todos
    WHERE (user_id, id) > (:after_user_id, CAST(:after_id AS uuid))
    ORDER BY user_id, id
    LIMIT 5000
),
normalized AS (
    UPDATE todos SET
        title = normalize(todos.title, NFC),
        description = normalize(todos.description, NFC)
    FROM batch
    WHERE todos.user_id = batch.user_id AND todos.id = batch.id
        AND (todos.title IS NOT NFC NORMALIZED OR todos.description IS NOT NFC NORMALIZED)
    RETURNING todos.id
)
SELECT user_id, id FROM batch ORDER BY user_id DESC, id DESC LIMIT 1
"""
_START = {"after_user_id": "", "after_id": "00000000-0000-0000-0000-000000000000"}


def upgrade() -> None:
    if context.is_offline_mode():
        # The SQL of the first batch, for the linter and for a DBA: each next one starts
        # after the key the previous one returned, until one returns no row.
        op.execute(sa.text(_BATCH).bindparams(**_START))
        return
    bind = op.get_bind()
    if bind.execute(sa.text("SHOW server_encoding")).scalar() != "UTF8":
        logger.warning("The database is not UTF8: texts are left as they were sent")
        return
    with op.get_context().autocommit_block():
        after = dict(_START)
        while True:
            last = bind.execute(sa.text(_BATCH), after).first()
            if last is None:
                return
            after = {"after_user_id": last.user_id, "after_id": str(last.id)}


def downgrade() -> None:
    """Nothing to undo: the composed spelling is the same text."""
