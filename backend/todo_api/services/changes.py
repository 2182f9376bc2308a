"""The change feed: what changed in a user's todos and lists since a token (decision 0017,
specs/change-feed.md).

Every row of `todos` and `lists` carries `change_xid`, the id of the transaction that last
wrote it (models.changes), and every deletion leaves a tombstone carrying the deleting
transaction's id, written by the DELETE's own statement (`recorded_deletions`). A token
holds a snapshot (`pg_current_snapshot()`: which transactions had committed when it was
taken). The changes since a snapshot S_old are the rows and tombstones whose
`change_xid` is not visible in S_old: a transaction that began first and committed last
was still in progress in S_old, so it shows up in the next answer, however its id
compares with the others'. Neither `updated_at` nor a sequence can say that.

A pass of the feed starts with the page that takes its snapshot, S_start, and returns
what is visible in S_start and not in S_old, in the order `(change_xid, type, id)`; a
later page of the same pass is bound to S_start by its token and starts after the last
key. The last page's token carries S_start as the next S_old. A row written again after
S_start leaves this pass (its new `change_xid` is not visible in S_start) and comes in
the next, which is why the keyset never skips anything: the set a pass walks only
shrinks. Without a token, a pass returns the current rows, no tombstones.

Each page is one statement. An empty poll reads one index range per table, the user's
rows whose `change_xid` is at least S_old's xmin (only those can be invisible in it).
"""

import base64
import binascii
import hashlib
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from asyncpg import Record
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Interval,
    Select,
    String,
    Text,
    Uuid,
    bindparam,
    cast,
    delete,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.types import TypeEngine, UserDefinedType
from sqlmodel import SQLModel

from todo_api.db.database import Executor, Query
from todo_api.errors import InvalidInput, ResyncRequired
from todo_api.models.changes import XID8, ChangeType
from todo_api.models.lists import TodoListPublic
from todo_api.models.todos import TodoPublic
from todo_api.services.todo_columns import PUBLIC as TODO_PUBLIC
from todo_api.services.todo_columns import TODOS

LISTS = SQLModel.metadata.tables["lists"]
TOMBSTONES = SQLModel.metadata.tables["tombstones"]
_TODO = TODOS.c
_LIST = LISTS.c
_TOMB = TOMBSTONES.c

SINCE_FIELD = "query.since"
SINCE_MAX_LENGTH = 1024  # a real token is at most about 800 characters (_MAX_XIP below)
NOT_A_TOKEN = "since must be the `next` of a previous answer of this feed"  # noqa: S105
OTHER_USER = (
    "This token belongs to another user's feed. Send the `next` this user's feed returned, "
    "or start again without since."
)


class _PgSnapshot(UserDefinedType[tuple[int, int, tuple[int, ...]]]):
    """`pg_snapshot`, which asyncpg reads and writes as `(xmin, xmax, (xip, ...))`."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:  # noqa: ANN401  (SQLAlchemy's signature)
        return "PG_SNAPSHOT"


_SNAPSHOT = _PgSnapshot()


# ---- Tombstones, written by the deletes of services.todos and services.lists -------------


def recorded_deletions(gone: CTE, kind: ChangeType) -> Insert:
    """The INSERT of a tombstone for each row `gone` returned (a CTE of a DELETE of one
    user's `kind` rows, RETURNING their `id`), to run in the DELETE's own statement: the
    deletion and its tombstone commit together, under the deleting transaction's id. It
    returns the `id` of each: alone, it is a statement that answers one row per deletion.

    A tombstone already there (an id deleted, written back by hand, deleted again) is
    moved to this deletion."""
    rows = select(
        bindparam("user_id", type_=String()),
        literal_column(f"'{kind.value}'", Text),
        gone.c.id,
    )
    statement = insert(TOMBSTONES).from_select(["user_id", "type", "id"], rows)
    return statement.on_conflict_do_update(
        index_elements=[_TOMB.user_id, _TOMB.type, _TOMB.id],
        set_={"deleted_at": func.now(), "change_xid": func.pg_current_xact_id()},
    ).returning(_TOMB.id)


# A tombstone outlives TOMBSTONE_RETENTION by this much. `deleted_at` is when the deleting
# transaction began, which can be before a feed's snapshot that it was not yet visible in
# (it committed later): such a token, still within retention, needs the tombstone. No
# deleting transaction of the API lasts anywhere near this long (each is a statement or
# a few, each cut off after DB_STATEMENT_TIMEOUT).
PURGE_MARGIN = timedelta(hours=1)


def _purge_query() -> Query:
    expired = (
        select(_TOMB.user_id, _TOMB.type, _TOMB.id)
        .where(_TOMB.deleted_at < func.now() - cast(bindparam("older_than"), Interval))
        .order_by(_TOMB.deleted_at)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True)
    )
    purged = (
        delete(TOMBSTONES)
        .where(tuple_(_TOMB.user_id, _TOMB.type, _TOMB.id).in_(expired.scalar_subquery()))
        .returning(_TOMB.id)
        .cte("purged")
    )
    return Query.compile(select(func.count().label("purged")).select_from(purged))


# The one statement of the feed that is not scoped to a user: expiry is by age, whoever's
# tombstones they are. It walks the index on deleted_at, oldest first, takes at most a
# batch, and skips rows locked by a deletion being recorded again, so it never waits for
# traffic nor makes traffic wait. (Distributed by user_id, as on Citus, it is the one
# statement that reaches every shard; it may be run on each shard instead.)
PURGE = _purge_query()


async def purge_tombstones(db: Executor, older_than: timedelta, batch: int) -> int:
    """Delete up to `batch` of the oldest tombstones older than `older_than` (the
    retention; PURGE_MARGIN is added), of any user; how many."""
    row = await db.fetch_one(PURGE, older_than=older_than + PURGE_MARGIN, batch=batch)
    assert row is not None  # noqa: S101  (a count always returns its row)
    return int(row["purged"])


# ---- Tokens ------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 1
_HAS_OLD, _HAS_START = 1, 2
_TYPES = tuple(ChangeType)
# A snapshot: xmin, xmax - xmin, the number of transactions in progress, then each of them
# as its distance from xmin.
_SNAPSHOT_HEAD = struct.Struct(">QIH")
_XIP = struct.Struct(">I")
_TAKEN_AT = struct.Struct(">q")
_KEY = struct.Struct(">QB16s")
_HEAD = struct.Struct(">BB")
_BINDING_SIZE = 8
# At most this many transactions in progress are kept in a token (see `_coarsened`).
_MAX_XIP = 64
_MAX_SPAN = 2**32 - 1
_MAX_XID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A `pg_snapshot`: every transaction below `xmin` had ended, none from `xmax` on had
    begun, and those of `xip` were in progress."""

    xmin: int
    xmax: int
    xip: tuple[int, ...]

    @classmethod
    def of(cls, value: tuple[int, int, tuple[int, ...]]) -> "Snapshot":
        xmin, xmax, xip = value
        return cls(xmin=xmin, xmax=xmax, xip=tuple(sorted(xip)))

    def value(self) -> tuple[int, int, tuple[int, ...]]:
        """As asyncpg sends a `pg_snapshot`."""
        return (self.xmin, self.xmax, self.xip)

    def coarsened(self) -> "Snapshot":
        """A snapshot in which no more transactions are visible than in this one, with at
        most _MAX_XIP in progress: `xmax` lowered to the first one left out. Used as a
        pass's S_start or S_old it can only make the feed send a change again, never skip
        one, and it keeps a token short however many transactions are in progress."""
        xmax, xip = self.xmax, self.xip
        if len(xip) > _MAX_XIP:
            xmax, xip = xip[_MAX_XIP], xip[:_MAX_XIP]
        if xmax - self.xmin > _MAX_SPAN:
            xmax = self.xmin + _MAX_SPAN
            xip = tuple(xid for xid in xip if xid < xmax)
        return Snapshot(xmin=self.xmin, xmax=xmax, xip=xip)

    def is_well_formed(self) -> bool:
        """What PostgreSQL's `pg_snapshot` input accepts (anything else would be a 500)."""
        return (
            1 <= self.xmin <= self.xmax <= _MAX_XID
            and all(self.xmin <= xid < self.xmax for xid in self.xip)
            and all(a < b for a, b in zip(self.xip, self.xip[1:], strict=False))
        )


@dataclass(frozen=True, slots=True)
class Key:
    """Where a page ended, in the feed's order."""

    change_xid: int
    type: ChangeType
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Taken:
    """A snapshot and when it was taken (by the database's clock)."""

    snapshot: Snapshot
    at: datetime


@dataclass(frozen=True, slots=True)
class Token:
    """Where a client's sync stands. `old`: the snapshot it is in sync with (None: it has
    nothing yet, and the pass returns the current rows). `start` and `after`: a pass under
    way, its snapshot and the last key sent."""

    old: Taken | None
    start: Taken | None = None
    after: Key | None = None

    @property
    def horizon(self) -> Taken:
        """The oldest snapshot the next page depends on, which retention applies to."""
        taken = self.old or self.start
        assert taken is not None  # noqa: S101  (a token always holds one)
        return taken


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _pack_taken(taken: Taken) -> bytes:
    snapshot = taken.snapshot.coarsened()
    return (
        _TAKEN_AT.pack(_micros(taken.at))
        + _SNAPSHOT_HEAD.pack(snapshot.xmin, snapshot.xmax - snapshot.xmin, len(snapshot.xip))
        + b"".join(_XIP.pack(xid - snapshot.xmin) for xid in snapshot.xip)
    )


def binding(user_id: str) -> bytes:
    """What a token is bound to: this user's feed."""
    return hashlib.blake2b(b"changes\0" + user_id.encode(), digest_size=_BINDING_SIZE).digest()


def encode_token(token: Token, user_id: str) -> str:
    """The opaque `next` of an answer to `user_id`."""
    flags = (_HAS_OLD if token.old else 0) | (_HAS_START if token.start else 0)
    raw = _HEAD.pack(_VERSION, flags)
    if token.old is not None:
        raw += _pack_taken(token.old)
    if token.start is not None:
        assert token.after is not None  # noqa: S101  (a pass under way has sent a key)
        raw += _pack_taken(token.start)
        after = token.after
        raw += _KEY.pack(after.change_xid, _TYPES.index(after.type), after.id.bytes)
    raw += binding(user_id)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._offset = 0

    def read(self, layout: struct.Struct) -> tuple[Any, ...]:
        values = layout.unpack_from(self._raw, self._offset)
        self._offset += layout.size
        return values

    def rest(self) -> bytes:
        return self._raw[self._offset :]


def _read_taken(reader: _Reader) -> Taken:
    (micros,) = reader.read(_TAKEN_AT)
    xmin, span, count = reader.read(_SNAPSHOT_HEAD)
    xip = tuple(xmin + reader.read(_XIP)[0] for _ in range(count))
    snapshot = Snapshot(xmin=xmin, xmax=xmin + span, xip=xip)
    if not snapshot.is_well_formed():
        raise ValueError(snapshot)
    return Taken(snapshot=snapshot, at=_EPOCH + timedelta(microseconds=micros))


def decode_token(text: str, user_id: str) -> Token:
    """Parse a client's `since`, refusing anything this feed did not issue to `user_id`
    (InvalidInput on `query.since`). A well-formed token made by hand is accepted: it can
    only choose which of the user's own changes are sent again."""
    try:
        raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))
        reader = _Reader(raw)
        version, flags = reader.read(_HEAD)
        if version != _VERSION or flags not in {_HAS_OLD, _HAS_START, _HAS_OLD | _HAS_START}:
            raise ValueError(version, flags)
        old = _read_taken(reader) if flags & _HAS_OLD else None
        start = after = None
        if flags & _HAS_START:
            start = _read_taken(reader)
            change_xid, type_index, id_bytes = reader.read(_KEY)
            after = Key(change_xid, _TYPES[type_index], uuid.UUID(bytes=id_bytes))
        issued_for = reader.rest()
    except (ValueError, IndexError, OverflowError, struct.error, binascii.Error):
        raise InvalidInput(SINCE_FIELD, NOT_A_TOKEN) from None
    if len(issued_for) != _BINDING_SIZE:
        raise InvalidInput(SINCE_FIELD, NOT_A_TOKEN)
    if issued_for != binding(user_id):
        raise InvalidInput(SINCE_FIELD, OTHER_USER)
    return Token(old=old, start=start, after=after)


# ---- The feed's statements ----------------------------------------------------------------

_TODO_FIELDS = tuple(TodoPublic.model_fields)
_LIST_FIELDS = tuple(TodoListPublic.model_fields)
_COUNTS = ("todo_count", "open_count")
# Every row of a page: its key, its tombstone's time, and the fields of both kinds of
# item (a todo's row has the list's fields NULL, and the other way round).
_KEY_COLUMNS = ("change_xid", "type", "id", "deleted_at")
_DATA_COLUMNS = tuple(
    dict.fromkeys(name for name in (*_TODO_FIELDS, *_LIST_FIELDS) if name != "id")
)


def _snapshot(name: str) -> ColumnElement[Any]:
    return cast(bindparam(name), _SNAPSHOT)


def _visible(change_xid: ColumnElement[Any], snapshot: ColumnElement[Any]) -> ColumnElement[bool]:
    return func.pg_visible_in_snapshot(change_xid, snapshot, type_=Boolean)


@dataclass(frozen=True, slots=True)
class _Shape:
    """Which variant of the page statement: since a snapshot (else every current row),
    and after a key of a pass under way (else the pass's first page, which takes its
    snapshot)."""

    since: bool
    after: bool


def _conditions(
    shape: _Shape,
    change_xid: ColumnElement[Any],
    kind: ColumnElement[Any],
    id_: Any,  # noqa: ANN401
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if shape.since:
        old = _snapshot("old")
        # Only a transaction from S_old's xmin on can be invisible in it: the index range.
        conditions += [change_xid >= func.pg_snapshot_xmin(old), ~_visible(change_xid, old)]
    if shape.after:
        # A later page reads with a later snapshot than S_start: only what S_start saw.
        start = _snapshot("start")
        after_xid = cast(bindparam("after_xid"), XID8)
        conditions += [
            change_xid < func.pg_snapshot_xmax(start),
            _visible(change_xid, start),
            change_xid >= after_xid,
            tuple_(change_xid, kind, id_)
            > tuple_(
                after_xid,
                cast(bindparam("after_type"), Text),
                cast(bindparam("after_id"), Uuid()),
            ),
        ]
    return conditions


def _row(values: dict[str, ColumnElement[Any]], types: dict[str, TypeEngine[Any]]) -> list[Any]:
    """The page's columns in their order, NULL (of the column's type) where `values` has none."""
    return [
        values[name].label(name) if name in values else cast(null(), types[name]).label(name)
        for name in (*_KEY_COLUMNS, *_DATA_COLUMNS)
    ]


def _limited(statement: Select[Any], change_xid: Any, *order: Any) -> Select[Any]:  # noqa: ANN401
    return statement.order_by(change_xid, *order).limit(bindparam("limit"))


@cache
def _page_query(shape: _Shape) -> Query:
    todo_kind = literal_column(f"'{ChangeType.TODO.value}'", Text)
    list_kind = literal_column(f"'{ChangeType.LIST.value}'", Text)
    no_time = cast(null(), DateTime(timezone=True))
    todo_values: dict[str, ColumnElement[Any]] = {
        "change_xid": _TODO.change_xid,
        "type": todo_kind,
        "deleted_at": no_time,
        **{column.name: column for column in TODO_PUBLIC},
    }
    stored_list_fields = [name for name in _LIST_FIELDS if name not in _COUNTS]
    types: dict[str, TypeEngine[Any]] = {
        **{name: value.type for name, value in todo_values.items()},
        **{name: _LIST[name].type for name in stored_list_fields},
        "todo_count": BigInteger(),
        "open_count": BigInteger(),
    }

    todos = _limited(
        select(*_row(todo_values, types)).where(
            _TODO.user_id == bindparam("user_id"),
            *_conditions(shape, _TODO.change_xid, todo_kind, _TODO.id),
        ),
        _TODO.change_xid,
        _TODO.id,
    )
    # The lists first, then their counts (as services.lists counts them, from the todos'
    # index on (user_id, list_id, position)) for the few of a page only.
    changed_lists = _limited(
        select(_LIST.change_xid, *(_LIST[name] for name in stored_list_fields)).where(
            _LIST.user_id == bindparam("user_id"),
            *_conditions(shape, _LIST.change_xid, list_kind, _LIST.id),
        ),
        _LIST.change_xid,
        _LIST.id,
    ).subquery("changed_lists")
    counts = (
        select(
            func.count().label("todo_count"),
            func.count().filter(~_TODO.is_completed).label("open_count"),
        )
        .where(_TODO.user_id == bindparam("user_id"), _TODO.list_id == changed_lists.c.id)
        .lateral("counts")
    )
    list_values: dict[str, ColumnElement[Any]] = {
        "change_xid": changed_lists.c.change_xid,
        "type": list_kind,
        "deleted_at": no_time,
        **{name: changed_lists.c[name] for name in stored_list_fields},
        "todo_count": counts.c.todo_count,
        "open_count": counts.c.open_count,
    }
    lists = select(*_row(list_values, types)).select_from(changed_lists.join(counts, true()))
    branches: list[Select[Any]] = [todos, lists]
    if shape.since:  # a pass without a token sends the current rows only
        tombstone_values: dict[str, ColumnElement[Any]] = {
            "change_xid": _TOMB.change_xid,
            "type": _TOMB.type,
            "id": _TOMB.id,
            "deleted_at": _TOMB.deleted_at,
        }
        branches.append(
            _limited(
                select(*_row(tombstone_values, types)).where(
                    _TOMB.user_id == bindparam("user_id"),
                    *_conditions(shape, _TOMB.change_xid, _TOMB.type, _TOMB.id),
                ),
                _TOMB.change_xid,
                _TOMB.type,
                _TOMB.id,
            )
        )
    union = union_all(*branches).subquery("branches")
    page = (
        select(union)
        .order_by(union.c.change_xid, union.c.type, union.c.id)
        .limit(bindparam("limit"))
        .subquery("page")
    )

    # One row even when nothing changed: the pass's snapshot, when it was taken, and
    # whether the token is too old (or from another timeline of the database: a snapshot
    # of transactions that have not begun yet here).
    snapshot: ColumnElement[Any]
    taken_at: ColumnElement[Any]
    if shape.after:
        snapshot = _snapshot("start")
        taken_at = cast(bindparam("start_taken_at"), DateTime(timezone=True))
    else:
        snapshot, taken_at = func.pg_current_snapshot(), func.statement_timestamp()
    if shape.since or shape.after:
        horizon = _snapshot("horizon")
        expired: ColumnElement[bool] = or_(
            cast(bindparam("horizon_taken_at"), DateTime(timezone=True))
            < func.statement_timestamp() - cast(bindparam("retention"), Interval),
            func.pg_snapshot_xmax(horizon) > func.pg_snapshot_xmax(func.pg_current_snapshot()),
        )
    else:
        expired = false()
    head = select(
        snapshot.label("snapshot"), taken_at.label("taken_at"), expired.label("expired")
    ).subquery("head")
    statement: Select[Any] = (
        select(head, page)
        .select_from(head.outerjoin(page, true()))
        .order_by(page.c.change_xid, page.c.type, page.c.id)
    )
    return Query.compile(statement)


@dataclass(frozen=True, slots=True)
class ChangeRecordPage:
    """One answer of the feed: its items (records with `type`, `id`, `deleted_at` and the
    fields of a todo or a list), the token for the next request, and whether this pass
    has more to send."""

    items: list[Record]
    next: str
    has_more: bool


async def changes(
    db: Executor,
    user_id: str,
    *,
    since: str | None,
    limit: int,
    retention: timedelta,
) -> ChangeRecordPage:
    """The next page of `user_id`'s changes after `since` (None: the current todos and
    lists), at most `limit` items. ResyncRequired when the token's snapshot is older
    than `retention`: tombstones it needs may be gone."""
    token = decode_token(since, user_id) if since is not None else None
    shape = _Shape(
        since=token is not None and token.old is not None,
        after=token is not None and token.start is not None,
    )
    values: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if token is not None:
        horizon = token.horizon
        values |= {
            "horizon": horizon.snapshot.value(),
            "horizon_taken_at": horizon.at,
            "retention": retention,
        }
        if token.old is not None:
            values["old"] = token.old.snapshot.value()
        if token.start is not None and token.after is not None:
            values |= {
                "start": token.start.snapshot.value(),
                "start_taken_at": token.start.at,
                "after_xid": token.after.change_xid,
                "after_type": token.after.type.value,
                "after_id": token.after.id,
            }
    rows = await db.fetch_all(_page_query(shape), **values)
    head = rows[0]
    if head["expired"]:
        raise ResyncRequired
    start = Taken(snapshot=Snapshot.of(head["snapshot"]), at=head["taken_at"])
    items = [row for row in rows if row["id"] is not None]
    old = token.old if token is not None else None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        key = Key(last["change_xid"], ChangeType(last["type"]), last["id"])
        following = Token(old=old, start=start, after=key)
        return ChangeRecordPage(items, encode_token(following, user_id), has_more=True)
    return ChangeRecordPage(items, encode_token(Token(old=start), user_id), has_more=False)
