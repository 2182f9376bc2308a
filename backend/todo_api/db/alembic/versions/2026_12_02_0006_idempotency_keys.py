"""Idempotency keys: the response each key's first request got (decision 0018).

Live-safe: a new table and its index, made while nothing uses them yet (catalog changes
only, no lock on an existing table), each a statement that may run again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        # A key's and a user id's limits are those of their schemas; a status code is
        # three digits.
        "-- squawk-ignore prefer-text-field, prefer-bigint-over-smallint\n"
        "CREATE TABLE IF NOT EXISTS idempotency_keys ("
        " user_id varchar(128) NOT NULL,"
        " key varchar(255) NOT NULL,"
        " fingerprint bytea NOT NULL,"
        " status_code smallint NOT NULL,"
        " body bytea,"
        " record jsonb,"
        " location text,"
        " created_at timestamptz DEFAULT now() NOT NULL,"
        " CONSTRAINT pk_idempotency_keys PRIMARY KEY (user_id, key),"
        " CONSTRAINT ck_idempotency_keys_body_or_record CHECK ((body IS NULL) <> (record IS NULL)))"
    )
    # The table is new and empty: building its index locks nothing anyone uses.
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_idempotency_keys_created_at ON idempotency_keys (created_at)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS idempotency_keys")
