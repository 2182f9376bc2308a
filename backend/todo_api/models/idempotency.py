"""The idempotency keys: what the first request with a key answered, so a retry of it
gets the same answer instead of doing the write again (decision 0018).

A table only, no schema: clients never see a key's row, just the response it stored.
Like every table of a user's data, its key starts with `user_id` (a key is the user's own:
two users may pick the same one), so it shards with the user's todos and lists.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, LargeBinary, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from todo_api.models.fields import USER_ID_MAX_LENGTH

IDEMPOTENCY_KEY_MAX_LENGTH = 255
# How long a key is remembered (the draft's example, and what clients of Stripe-like APIs
# expect): a retry within it replays, a later one with the same key is a new request.
KEY_LIFETIME = timedelta(hours=24)


class IdempotencyKey(SQLModel, table=True):
    """One key of one user, with the response of the request that first used it."""

    __tablename__ = "idempotency_keys"
    # The purge deletes the oldest keys of every user in batches (services.purge).
    __table_args__ = (
        Index("ix_idempotency_keys_created_at", "created_at"),
        CheckConstraint("(body IS NULL) <> (record IS NULL)", name="body_or_record"),
    )

    user_id: str = Field(primary_key=True, max_length=USER_ID_MAX_LENGTH)
    key: str = Field(primary_key=True, max_length=IDEMPOTENCY_KEY_MAX_LENGTH)
    # sha256 of the method, the path and the request's body as validated.
    fingerprint: bytes = Field(sa_type=LargeBinary)
    status_code: int = Field(sa_type=SmallInteger)
    # The response as it was sent, or (a keyed create of one todo, made in one statement
    # with its key: services.idempotency.keyed_insert) the todo it showed, rendered again
    # on a replay exactly as the first time.
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    record: dict[str, Any] | None = Field(default=None, sa_type=JSONB)
    location: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(
        sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": text("now()")}
    )
