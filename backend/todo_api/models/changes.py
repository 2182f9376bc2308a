"""What the change feed is made of (specs/change-feed.md, decision 0017): the transaction id
each row of `todos` and `lists` carries (`change_xid`), and the `tombstones` table, which
remembers deletions.

`change_xid` is the id of the transaction that last wrote the row (`pg_current_xact_id()`,
an `xid8`): its default covers an INSERT, and its `onupdate` puts it in the SET of every
Core UPDATE the services build, without any of them listing it. A feed answer carries
snapshots (`pg_current_snapshot()`), and a row belongs to the changes since a snapshot
exactly when its `change_xid` was not yet visible in it, whatever order the transactions
committed in. A deletion leaves a tombstone, written by the DELETE's own statement.

This module imports nothing of the other models, which import `XID8` and
`change_xid_field` from it.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Text, func, text
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.types import UserDefinedType
from sqlmodel import Field, SQLModel

from todo_api.models.fields import USER_ID_MAX_LENGTH


class XID8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id (`xid8`), which never wraps around. asyncpg reads
    and writes it as a Python int."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:  # noqa: ANN401  (SQLAlchemy's signature)
        return "XID8"


# So that reflection (Alembic's comparison of the models with the migrated schema) knows
# the type instead of warning about it.
ischema_names["xid8"] = XID8

# The transaction writing the row; the same in every row and every statement of it.
CURRENT_XACT_ID = "pg_current_xact_id()"


def change_xid_field() -> Any:  # noqa: ANN401  (a pydantic FieldInfo, as Field returns)
    """The `change_xid` column of a table the feed follows: set by the database on INSERT,
    and by every Core UPDATE (its `onupdate`), never by a client, never shown."""
    return Field(
        sa_type=XID8,
        sa_column_kwargs={
            "server_default": text(CURRENT_XACT_ID),
            "onupdate": func.pg_current_xact_id(),
        },
    )


class ChangeType(StrEnum):
    """What a change is about. Their order is the feed's order within one transaction."""

    LIST = "list"
    TODO = "todo"


class Tombstone(SQLModel, table=True):
    """The `tombstones` table: one row per deleted todo or list, kept for
    TOMBSTONE_RETENTION, written by the DELETE's own statement (a data-modifying CTE).
    Keyed by user first, like every user table, so it can be distributed by `user_id`."""

    __tablename__ = "tombstones"
    __table_args__ = (
        CheckConstraint(
            "type IN ({})".format(", ".join(f"'{kind.value}'" for kind in ChangeType)),
            name="type_known",
        ),
        # The feed: one user's tombstones in the feed's order, from a snapshot's xmin on.
        Index("ix_tombstones_user_id_change_xid_type_id", "user_id", "change_xid", "type", "id"),
        # The purge: the oldest first, whoever they belong to.
        Index("ix_tombstones_deleted_at", "deleted_at"),
    )

    user_id: str = Field(primary_key=True, max_length=USER_ID_MAX_LENGTH)
    type: str = Field(primary_key=True, sa_type=Text)
    id: uuid.UUID = Field(primary_key=True)
    deleted_at: datetime = Field(
        sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": text("now()")}
    )
    change_xid: int = Field(
        sa_type=XID8, sa_column_kwargs={"server_default": text(CURRENT_XACT_ID)}
    )
