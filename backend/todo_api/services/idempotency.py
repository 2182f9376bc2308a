"""Requests that are done once, however often a client sends them (the IETF draft "The
Idempotency-Key HTTP Header Field"; decision 0018).

A client that sends a create and gets no answer (a timeout, a 503 from an outage that
may have come after the commit) cannot know whether it happened. With a key, it sends
the same request again: the first request with a key is executed, and its response is
stored with the key *in the same transaction as the write*, so there is never a key
without its write or a write without its key. A repeat within `KEY_LIFETIME` gets that
response back instead of a second execution.

One transaction per keyed request, on one connection (so it works through PgBouncer in
transaction mode):

1. claim: try a transaction-scoped advisory lock on (user, key), and look the key up.
   A key found is replayed (or refused, if it was used for another request), whether or
   not the lock was free. Not found and not locked: its first request is running now, so
   this one is refused (RequestInProgress, a 409), never executed a second time;
2. execute the write, in the transaction;
3. remember the response. Should the key's first request have committed between this
   one's snapshot and its lock (a statement's snapshot predates what it locks), the key is
   already there: this attempt is rolled back and the whole request runs again, finding it.

Only a response that did something is stored; a request refused with an error rolled
back, so its key is free and a retry executes again.
"""

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
from asyncpg import Record
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.types import String
from sqlmodel import SQLModel

from todo_api.db.database import Database, Query, Transaction
from todo_api.errors import IdempotencyKeyReused, RequestInProgress
from todo_api.models.idempotency import KEY_LIFETIME

KEYS = SQLModel.metadata.tables["idempotency_keys"]
COLUMNS = KEYS.c
IN_PROGRESS = (
    "A request with this Idempotency-Key is still being processed; retry in a moment to "
    "get its response."
)
# A deadlock (with a move's respacing) or the race of step 3: the request runs again.
_ATTEMPTS = 3
_KEYS_PRIMARY_KEY = "pk_idempotency_keys"
_LIFETIME: ColumnElement[timedelta] = literal_column(
    f"interval '{int(KEY_LIFETIME.total_seconds())} seconds'"
)
_OWNED = (COLUMNS.user_id == bindparam("user_id"), COLUMNS.key == bindparam("key"))
_LIVE = COLUMNS.created_at > func.now() - _LIFETIME
_EXPIRED = COLUMNS.created_at <= func.now() - _LIFETIME


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response as stored with its key, and as replayed: its body as sent, or (from a
    `keyed_insert`) the record it showed, for the HTTP layer to render again."""

    status_code: int
    body: bytes | None
    location: str | None
    record: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a keyed request answers: its own response, or the first one's (`replayed`)."""

    response: StoredResponse
    replayed: bool


def fingerprint(*parts: bytes) -> bytes:
    """What identifies a request for its key: the same key with another fingerprint is a
    different request (IdempotencyKeyReused)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def _claim() -> Select[Any]:
    lock = select(
        func.pg_try_advisory_xact_lock(
            func.hashtextextended(
                func.concat_ws(
                    literal_column("'/'"),
                    literal_column("'idempotency'"),
                    bindparam("user_id", type_=String()),
                    bindparam("key", type_=String()),
                ),
                literal_column("0"),
            )
        ).label("claimed")
    ).subquery("lock")
    found = select(
        COLUMNS.fingerprint, COLUMNS.status_code, COLUMNS.body, COLUMNS.record, COLUMNS.location
    ).where(*_OWNED, _LIVE)
    stored = found.subquery("stored")
    return select(lock.c.claimed, stored).select_from(
        lock.outerjoin(stored, literal_column("true"))
    )


_CLAIM = Query.compile(_claim())
_REMEMBER = Query.compile(
    insert(KEYS)
    .values(
        user_id=bindparam("user_id"),
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        status_code=bindparam("status_code"),
        body=bindparam("body"),
        location=bindparam("location"),
    )
    # An expired key is free again: its row is taken over. A live one means step 3's race.
    .on_conflict_do_update(
        index_elements=[COLUMNS.user_id, COLUMNS.key],
        set_={
            "fingerprint": bindparam("fingerprint"),
            "status_code": bindparam("status_code"),
            "body": bindparam("body"),
            "location": bindparam("location"),
            "created_at": func.now(),
        },
        where=_EXPIRED,
    )
    .returning(COLUMNS.user_id)
)


class _Raced(Exception):
    """The key's first request committed while this one was claiming it."""


async def run_once(
    database: Database,
    user_id: str,
    key: str,
    request_fingerprint: bytes,
    execute: Callable[[Transaction], Awaitable[StoredResponse]],
) -> Outcome:
    """`execute` once for the user's `key`: its response the first time, the stored one
    after (see the module's docstring)."""
    attempt = 1
    while True:
        try:
            async with database.transaction() as transaction:
                return await _attempt(transaction, user_id, key, request_fingerprint, execute)
        except (_Raced, asyncpg.DeadlockDetectedError):
            if attempt == _ATTEMPTS:
                raise
            attempt += 1


async def _attempt(
    transaction: Transaction,
    user_id: str,
    key: str,
    request_fingerprint: bytes,
    execute: Callable[[Transaction], Awaitable[StoredResponse]],
) -> Outcome:
    claim = await transaction.fetch_one(_CLAIM, user_id=user_id, key=key)
    assert claim is not None  # noqa: S101  (the lock's row is always there)
    stored = _stored(claim, request_fingerprint)
    if stored is not None:
        return Outcome(stored, replayed=True)
    response = await execute(transaction)
    remembered = await transaction.fetch_one(
        _REMEMBER,
        user_id=user_id,
        key=key,
        fingerprint=request_fingerprint,
        status_code=response.status_code,
        body=response.body,
        location=response.location,
    )
    if remembered is None:
        raise _Raced
    return Outcome(response, replayed=False)


def _stored(claim: Record, request_fingerprint: bytes) -> StoredResponse | None:
    """The first response, if the claim found the key; None if the key is this request's
    to execute; RequestInProgress or IdempotencyKeyReused if it is neither."""
    if claim["status_code"] is not None:
        if claim["fingerprint"] != request_fingerprint:
            raise IdempotencyKeyReused
        record = claim["record"]
        return StoredResponse(
            claim["status_code"],
            claim["body"],
            claim["location"],
            orjson.loads(record) if record is not None else None,
        )
    if not claim["claimed"]:
        raise RequestInProgress(IN_PROGRESS)
    return None


# ---- One statement: a keyed create of one row ---------------------------------------------
#
# The transaction above costs four round trips more than the write, which is most of a
# create's time (bench/RESULTS.md: a keyed create ran at half a plain one's rate). A create
# of one row can do it all in its one statement instead: the claim (a CTE, evaluated once,
# first: the insert depends on it), the insert (only for a key that is new and free), and
# the key, storing the inserted row as JSON, which is the response's body before
# rendering. The same rules hold: a key found is replayed, a key in use is a 409, a crash
# leaves both or neither (one statement is one transaction). Should the key's first
# request commit between this statement's snapshot and its lock, the key's insert hits
# the primary key: the statement fails, nothing is written, and it runs again.


def keyed_insert(
    table: Table, values: Mapping[str, ColumnElement[Any]], returning: Sequence[Any]
) -> Query:
    """INSERT into `table` of one row of `values`, RETURNING `returning`, claimed by the
    user's idempotency key and stored with it, in one statement (see above)."""
    claim = _claim().cte("claim")
    fresh = select(*values.values()).where(claim.c.claimed, claim.c.status_code.is_(None))
    inserted = insert(table).from_select(list(values), fresh).returning(*returning).cte("inserted")
    remembered = insert(KEYS).from_select(
        ["user_id", "key", "fingerprint", "status_code", "record"],
        select(
            bindparam("user_id", type_=String()),
            bindparam("key", type_=String()),
            bindparam("fingerprint"),
            bindparam("status_code"),
            func.to_jsonb(literal_column(inserted.name)),
        ).select_from(inserted),
    )
    statement = (
        select(claim, inserted)
        .select_from(claim.outerjoin(inserted, literal_column("true")))
        .add_cte(remembered.cte("remembered"))
    )
    return Query.compile(statement)


_FORGET_EXPIRED = Query.compile(delete(KEYS).where(*_OWNED, _EXPIRED))


@dataclass(frozen=True, slots=True)
class Inserted:
    """What a keyed insert did: the row it inserted, or the first request's response."""

    row: Record | None
    replay: StoredResponse | None


async def insert_once(
    database: Database,
    query: Query,
    *,
    user_id: str,
    key: str,
    request_fingerprint: bytes,
    status_code: int,
    **values: object,
) -> Inserted:
    """Send `query` (a `keyed_insert`) for the user's `key`; `status_code` is what the
    response of the inserted row will be, stored for its replays."""
    attempt = 1
    while True:
        try:
            row = await database.fetch_one(
                query,
                user_id=user_id,
                key=key,
                fingerprint=request_fingerprint,
                status_code=status_code,
                **values,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _KEYS_PRIMARY_KEY or attempt == _ATTEMPTS:
                raise
            # The key's first request committed meanwhile (the next attempt replays it),
            # or an expired row of the key is in the way (the key is free again).
            await database.fetch_one(_FORGET_EXPIRED, user_id=user_id, key=key)
            attempt += 1
            continue
        assert row is not None  # noqa: S101  (the claim's row is always there)
        stored = _stored(row, request_fingerprint)
        return Inserted(row=None if stored else row, replay=stored)


def _purge_query() -> Query:
    oldest = (
        select(COLUMNS.user_id, COLUMNS.key)
        .where(_EXPIRED)
        .order_by(COLUMNS.created_at)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True)
    )
    gone = (
        delete(KEYS)
        .where(tuple_(COLUMNS.user_id, COLUMNS.key).in_(oldest.scalar_subquery()))
        .returning(COLUMNS.key)
        .cte("gone")
    )
    return Query.compile(select(func.count().label("purged")).select_from(gone))


# The one statement on keys not scoped to a user: expiry is by age, whoever's they are.
# It walks the index on created_at, takes at most a batch, and skips rows a request has
# locked, so it never waits for traffic nor makes traffic wait.
PURGE = _purge_query()


async def purge_expired_keys(database: Database, *, batch: int) -> int:
    """Delete up to `batch` of the oldest expired keys, of any user; how many."""
    row = await database.fetch_one(PURGE, batch=batch)
    assert row is not None  # noqa: S101  (a count always returns its row)
    return int(row["purged"])
