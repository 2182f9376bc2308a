"""The reference app: Starlette routing, a raw asyncpg pool and orjson, nothing else.

Run by the bench as `uvicorn bench.reference.app:app`; the database comes from
BENCH_REFERENCE_DSN and the pool size from BENCH_REFERENCE_POOL (the API's default, 10).
Its validation is the minimum that keeps bad input out of the database. It serves what
the bench asks of it: GET one, create, bulk create, the stats without filters, the first
page of a listing in any sort, filtered by priority, tags and list (no cursor, no other
filters), a move to a list given in the body (the API's transaction, statement for
statement), GET one with `If-None-Match` (the API's ETag, a 304), a create with an
`Idempotency-Key` (the API's one statement: claim, insert, the inserted row stored with
the key as JSON; a replay renders the stored row again) and the change feed's poll with
a token whose pass is over, when nothing changed (the API's statement and token), a
PATCH of the title and/or the completion (the API's UPDATE) and a DELETE (the API's one
statement, the todo and its tombstone), both without `If-Match`. Its bodies are byte for
byte the API's, `next_cursor` included (the bench checks that at start-up,
`bench.sanity.check_bodies`).
"""

import base64
import hashlib
import os
import re
import struct
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.reference.sql import (
    BULK_INSERT,
    CREATED,
    DELETE_ONE,
    FEED_SINCE,
    FIELDS,
    IDEMPOTENCY_FORGET_EXPIRED,
    INSERT,
    KEYED_INSERT,
    KEYS_PRIMARY_KEY,
    LIST_SORT,
    MOVE_LOCK,
    MOVE_LOCK_TODO,
    OWNED_LISTS,
    PATCHED,
    POSITION_GAP,
    PRIORITIES,
    SELECT_ONE,
    SORTS,
    STATS,
    TOMBSTONE_RETENTION_DAYS,
    ListFilter,
    Statement,
    list_page,
    list_variants,
    move_neighbours,
    move_place,
    move_respace,
    patch_update,
    patch_variants,
)

if TYPE_CHECKING:  # not subscriptable at run time
    from asyncpg.pool import PoolConnectionProxy

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The API's problem details (api/errors.py); the 404's bytes are compared at start-up.
_NOT_FOUND = (
    b'{"type":"urn:todo-api:problem:not-found","title":"Not Found","status":404,'
    b'"detail":"Todo not found.","error_code":"NOT_FOUND"}'
)
_INVALID = b'{"detail":"The request is invalid.","error_code":"VALIDATION_ERROR"}'
_KEY_REUSED = b'{"detail":"Idempotency-Key reused.","error_code":"IDEMPOTENCY_KEY_REUSED"}'
_IN_PROGRESS = b'{"detail":"In progress.","error_code":"REQUEST_IN_PROGRESS"}'
_NOT_SERVED = b'{"detail":"Not served by the reference.","error_code":"NOT_SERVED"}'
_RESYNC = b'{"detail":"Resync.","error_code":"RESYNC_REQUIRED"}'
_REPLAYED = "Idempotent-Replayed"
_KEY_MAX = 255
# Printable ASCII but for the space, the quote and the backslash.
_KEY = re.compile(rf"[\x21\x23-\x5b\x5d-\x7e]{{1,{_KEY_MAX}}}")
_TITLE_MAX = 255
_DESCRIPTION_MAX = 2000
_TAG_MAX = 40
_TAGS_MAX = 20
_BULK_MAX = 100
_LIMIT_MAX = 1000
# The API's cursor: version, sort, kind of key (0 none, 1 an instant, 2 a number), key,
# created_at, id, binding (services/cursor.py).
_CURSOR = struct.Struct(">BBBqq16s8s")
_CURSOR_VERSION = 2
_NO_KEY, _INSTANT, _NUMBER = 0, 1, 2
# The change feed's token (services/changes.py): version and flags, then S_old as when it
# was taken, xmin, xmax - xmin, the count of transactions in progress and each of them
# from xmin; then the user's binding. `next` after a pass holds S_old only.
_FEED_HEAD = struct.Struct(">BB")
_TAKEN_AT = struct.Struct(">q")
_SNAPSHOT_HEAD = struct.Struct(">QIH")
_XIP = struct.Struct(">I")
_FEED_VERSION, _FEED_HAS_OLD = 1, 1
_FEED_MAX_XIP = 64
_FEED_MAX_SPAN = 2**32 - 1
_FEED_PAGE = 100
_RETENTION = timedelta(days=TOMBSTONE_RETENTION_DAYS)
# Every statement variant of the listing, by (sort, filtered by priority, by tags, by list).
_LISTS: dict[tuple[str, bool, bool, ListFilter | None], Statement] = {
    (sort, priorities, tags, in_list): list_page(
        sort, priorities=priorities, tags=tags, in_list=in_list
    )
    for sort, priorities, tags, in_list in list_variants()
}
# A move's statements, by whether its target is a list (and for the last, whether it goes
# to the end of it).
_NEIGHBOURS = {listed: move_neighbours(listed) for listed in (True, False)}
_RESPACE = {listed: move_respace(listed) for listed in (True, False)}
_PLACE = {
    (listed, end): move_place(listed, at_the_end=end)
    for listed in (True, False)
    for end in (True, False)
}
# A PATCH's UPDATE, by the fields it sets.
_PATCHES = {fields: patch_update(fields) for fields in patch_variants()}
# The instants of a todo, which a stored record holds as text.
_INSTANTS = ("due_at", "created_at", "updated_at", "completed_at")
# As the API does, a keyed create that finds its key taken meanwhile (or expired) is made
# again.
_KEYED_ATTEMPTS = 3
# As the API does, a move that deadlocks with another write (only possible while one of
# them respaces) is made again.
_MOVE_ATTEMPTS = 3


class Invalid(ValueError):
    """A request the reference refuses with a 422."""


class _NoRoom(Exception):
    """A move's gap has no integer left in it: the list is respaced first."""


class _Refused(Exception):
    """A move refused inside its transaction, which rolls back: the answer to send."""

    def __init__(self, body: bytes, status: int) -> None:
        super().__init__(status)
        self.body, self.status = body, status


def _json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:  # noqa: ANN401
    body = orjson.dumps(content, option=orjson.OPT_UTC_Z)
    return Response(body, status, headers, media_type="application/json")


def _error(body: bytes, status: int) -> Response:
    return Response(body, status, media_type="application/problem+json")


def pool_of(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _todo(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """The API's field order. asyncpg's own UUID class is not one orjson knows, so the id
    is sent as text, as the API's serializer does."""
    todo = {name: row[name] for name in FIELDS}
    todo["id"] = str(todo["id"])
    if todo["list_id"] is not None:
        todo["list_id"] = str(todo["list_id"])
    return todo


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _binding(
    user_id: str,
    sort: str,
    priorities: list[str],
    tags: list[str],
    list_id: uuid.UUID | str | None,
) -> bytes:
    """The API's digest of the listing a cursor belongs to (services/todo_filters.py's
    fingerprint of the filters, for the filters the reference serves; `list_id` is a
    list's id, "none" or None)."""
    wanted = sorted(set(priorities)), sorted({tag.lower() for tag in tags})
    canonical = repr((None, None, *wanted, None, None, None, str(list_id)))
    fingerprint = hashlib.blake2b(canonical.encode(), digest_size=8).digest()
    identity = b"\0".join((user_id.encode(), sort.encode(), fingerprint))
    return hashlib.blake2b(identity, digest_size=8).digest()


def _cursor(sort: str, row: asyncpg.Record, binding: bytes) -> str:
    """The API's cursor after `row`, so both build the same `next_cursor`."""
    key = sort.removeprefix("-")
    if key == "priority":
        kind, value = _NUMBER, PRIORITIES.index(row["priority"])
    elif key == LIST_SORT:  # a position, not shown: as the statement selected it
        kind, value = _NUMBER, row["sort_key"]
    elif row[key] is None:  # a todo without due_at
        kind, value = _NO_KEY, 0
    else:
        kind, value = _INSTANT, _micros(row[key])
    raw = _CURSOR.pack(
        _CURSOR_VERSION,
        SORTS.index(sort),
        kind,
        value,
        _micros(row["created_at"]),
        row["id"].bytes,
        binding,
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _etag(body: bytes) -> str:
    """The API's strong ETag of a body: 96 bits of its BLAKE2b, base64url, quoted."""
    digest = hashlib.blake2b(body, digest_size=12).digest()
    return f'"{base64.urlsafe_b64encode(digest).decode()}"'


def _names(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match names `etag` (weakly, as the API compares: `*`, the tag,
    or its W/ form), for well-formed headers, which is all the bench sends."""
    for element in if_none_match.split(","):
        tag = element.strip(" \t")
        if tag in ("*", etag) or tag == f"W/{etag}":
            return True
    return False


def _one(
    todo: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """One todo, with its ETag, as the API sends it."""
    body = orjson.dumps(todo, option=orjson.OPT_UTC_Z)
    headers = {**(headers or {}), "ETag": _etag(body)}
    return Response(body, status, headers, media_type="application/json")


def not_found() -> Response:
    return _error(_NOT_FOUND, 404)


def one_todo(row: asyncpg.Record, if_none_match: str | None) -> Response:
    """GET one's answer for its row: the todo with its ETag, or a 304 while
    `If-None-Match` names that ETag."""
    response = _one(_todo(row))
    if if_none_match is not None and _names(if_none_match, response.headers["etag"]):
        return Response(status_code=304, headers={"ETag": response.headers["etag"]})
    return response


async def get_todo(request: Request) -> Response:
    try:
        todo_id = uuid.UUID(request.path_params["todo_id"])
    except ValueError:
        return _error(_INVALID, 422)
    row = await pool_of(request).fetchrow(SELECT_ONE, request.path_params["user_id"], todo_id)
    if row is None:
        return not_found()
    return one_todo(row, request.headers.get("if-none-match"))


def _tag(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(tag := value.strip()) <= _TAG_MAX:
        raise Invalid(value)
    return tag


async def list_todos(request: Request) -> Response:
    params = request.query_params
    try:
        limit = int(params.get("limit", "100"))
        sort = params.get("sort", "-created_at")
        priorities = params.getlist("priority")
        tags = [_tag(tag) for tag in params.getlist("tag")]
        given_list = params.get("list_id")
        list_id = None if given_list in (None, "none") else uuid.UUID(given_list)
        if not 1 <= limit <= _LIMIT_MAX or sort not in SORTS or len(tags) > _TAGS_MAX:
            raise Invalid(limit)
        if sort == LIST_SORT and given_list is None:  # the order of one list
            raise Invalid(sort)
        ranks = sorted({PRIORITIES.index(priority) for priority in priorities})
    except ValueError:  # Invalid, int(), uuid.UUID and PRIORITIES.index alike
        return _error(_INVALID, 422)
    user_id = request.path_params["user_id"]
    in_list: ListFilter | None = None
    if given_list is not None:
        in_list = "no_list" if list_id is None else "list_id"
    query = _LISTS[sort, bool(ranks), bool(tags), in_list]
    values = {
        "user_id": user_id,
        "priorities": ranks,
        "tags": tags,
        "list_id": list_id,
        "limit": limit + 1,
    }
    rows = await pool_of(request).fetch(query.sql, *(values[name] for name in query.parameters))
    found = [row for row in rows if row["id"] is not None]  # no match: one row, the count
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        binding = _binding(
            user_id, sort, priorities, tags, list_id if list_id is not None else given_list
        )
        next_cursor = _cursor(sort, found[-1], binding)
    items = [_todo(row) for row in found]
    return _json({"items": items, "count": rows[0]["total"], "next_cursor": next_cursor})


def _title(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(title := value.strip()) <= _TITLE_MAX:
        raise Invalid(value)
    return title


def _fields(data: Any) -> tuple[Any, ...]:  # noqa: ANN401
    """A create body's fields in the INSERT's order (user_id aside), or Invalid."""
    if not isinstance(data, dict):
        raise Invalid(data)
    title = _title(data.get("title"))
    description = data.get("description")
    completed = data.get("is_completed", False)
    priority = data.get("priority", "none")
    due_at = data.get("due_at")
    tags = data.get("tags", [])
    list_id = _uuid_or_none(data.get("list_id"))
    if description is not None and (
        not isinstance(description, str) or len(description) > _DESCRIPTION_MAX
    ):
        raise Invalid(description)
    if not isinstance(completed, bool) or priority not in PRIORITIES:
        raise Invalid(completed)
    if due_at is not None:
        if not isinstance(due_at, str):
            raise Invalid(due_at)
        due_at = datetime.fromisoformat(due_at)  # ValueError: a 422 too
        if due_at.tzinfo is None:
            raise Invalid(due_at)
    if not isinstance(tags, list) or len(tags) > _TAGS_MAX:
        raise Invalid(tags)
    unique: dict[str, str] = {}
    for tag in map(_tag, tags):
        unique.setdefault(tag.casefold(), tag)
    return title, description, completed, priority, due_at, list(unique.values()), list_id


def _uuid_or_none(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(value)
    return uuid.UUID(value)  # ValueError: a 422 too


async def _body(request: Request) -> Any:  # noqa: ANN401
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise Invalid("body") from None


def _created(row: asyncpg.Record | Mapping[str, Any] | None, user_id: str) -> Response:
    if row is None:  # INSERT ... RETURNING always returns the row
        raise RuntimeError("INSERT returned no row")
    todo = _todo(row)
    return _one(todo, CREATED, {"Location": f"/api/v1/users/{user_id}/todos/{todo['id']}"})


def _revived(record: str) -> dict[str, Any]:
    """A todo from the JSON PostgreSQL made of its row (`to_jsonb`, instants in the
    session's time zone), as asyncpg would have returned it: what the API's
    `revived_todo` does, without its validation."""
    todo: dict[str, Any] = orjson.loads(record)
    for name in _INSTANTS:
        if todo[name] is not None:
            todo[name] = datetime.fromisoformat(todo[name]).astimezone(UTC)
    return todo


async def create_todo(request: Request) -> Response:
    try:
        fields = _fields(await _body(request))
        key = request.headers.get("idempotency-key")
        if key is not None:
            key = _key(key)
    except ValueError:
        return _error(_INVALID, 422)
    user_id = request.path_params["user_id"]
    try:
        if key is not None:
            return await _create_once(request, user_id, key, fields)
        row = await pool_of(request).fetchrow(INSERT, *fields, user_id)
    except asyncpg.ForeignKeyViolationError:  # not one of the user's lists
        return _error(_INVALID, 422)
    return _created(row, user_id)


def _key(value: str) -> str:
    """An Idempotency-Key, quoted (a Structured Field string) or bare, or Invalid."""
    value = value.strip(" \t")
    if len(value) > 1 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if _KEY.fullmatch(value) is None:
        raise Invalid(value)
    return value


def _fingerprint(request: Request, fields: tuple[Any, ...]) -> bytes:
    """The API's fingerprint of a create: method, path and the body as validated (every
    field, defaults filled in, keys sorted), each length-prefixed, hashed."""
    title, description, completed, priority, due_at, tags, list_id = fields
    body = {
        "title": title,
        "description": description,
        "is_completed": completed,
        "priority": priority,
        "due_at": due_at.astimezone(UTC) if due_at is not None else None,
        "tags": tags,
        "list_id": str(list_id) if list_id is not None else None,
    }
    digest = hashlib.sha256()
    for part in (
        request.method.encode(),
        request.url.path.encode(),
        orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


async def _create_once(
    request: Request, user_id: str, key: str, fields: tuple[Any, ...]
) -> Response:
    """The API's keyed create, one statement: the claim (the key's advisory lock, tried,
    and its stored response), the INSERT and the inserted row stored with the key as
    JSON. A key already used renders its stored row again, as the API does; a key stored
    meanwhile or expired fails on its primary key, and the statement runs again after
    its expired row is deleted (the API's retry)."""
    fingerprint = _fingerprint(request, fields)
    pool = pool_of(request)
    for attempt in range(1, _KEYED_ATTEMPTS + 1):
        try:
            row = await pool.fetchrow(KEYED_INSERT.sql, user_id, key, fingerprint, CREATED, *fields)
            break
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != KEYS_PRIMARY_KEY or attempt == _KEYED_ATTEMPTS:
                raise
            await pool.fetchrow(IDEMPOTENCY_FORGET_EXPIRED.sql, user_id, key)
    else:
        raise RuntimeError("unreachable")
    if row is None:  # the claim's row is always there
        raise RuntimeError("the keyed insert returned no row")
    if row["status_code"] is not None:
        if row["fingerprint"] != fingerprint:
            return _error(_KEY_REUSED, 422)
        response = _created(_revived(row["record"]), user_id)
        response.headers[_REPLAYED] = "true"
        return response
    if not row["claimed"]:
        return _error(_IN_PROGRESS, 409)
    return _created(row, user_id)


async def create_todos(request: Request) -> Response:
    try:
        data = await _body(request)
        todos = data.get("todos") if isinstance(data, dict) else None
        if not isinstance(todos, list) or not 0 < len(todos) <= _BULK_MAX:
            raise Invalid(todos)
        rows = []
        for ordinal, todo in enumerate(todos):
            title, description, completed, priority, due_at, tags, list_id = _fields(todo)
            rows.append(
                {
                    "ordinal": ordinal,
                    "title": title,
                    "description": description,
                    "is_completed": completed,
                    "priority": priority,
                    "due_at": due_at.astimezone(UTC) if due_at is not None else None,
                    "tags": tags,
                    "list_id": str(list_id) if list_id is not None else None,
                }
            )
    except ValueError:
        return _error(_INVALID, 422)
    payload = orjson.dumps(rows, option=orjson.OPT_UTC_Z).decode()
    try:
        created = await pool_of(request).fetch(BULK_INSERT, request.path_params["user_id"], payload)
    except asyncpg.ForeignKeyViolationError:  # not one of the user's lists
        return _error(_INVALID, 422)
    return _json({"items": [_todo(row) for row in created]}, 201)


def _today(zone: str) -> tuple[datetime, datetime]:
    """The start of today and of tomorrow in `zone`, in UTC, as the API computes them."""
    tz = ZoneInfo(zone)
    today = datetime.now(UTC).astimezone(tz).date()
    start = datetime.combine(today, time(), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


async def todo_stats(request: Request) -> Response:
    try:
        day_start, day_end = _today(request.query_params.get("tz", "UTC"))
    except (ValueError, ZoneInfoNotFoundError):
        return _error(_INVALID, 422)
    row = await pool_of(request).fetchrow(STATS, day_start, day_end, request.path_params["user_id"])
    if row is None:  # an aggregate always returns its row
        raise RuntimeError("the stats returned no row")
    return _json(
        {
            "total": row["total"],
            "completed": row["completed"],
            "open": row["total"] - row["completed"],
            "overdue": row["overdue"],
            "due_today": row["due_today"],
            "by_priority": {name: row[name] for name in PRIORITIES},
            "by_tag": orjson.loads(row["by_tag"]),
            "by_list": orjson.loads(row["by_list"]),
        }
    )


def _between(low: int | None, high: int | None) -> int | None:
    """A position strictly between two (None: no bound on that side); None for the end."""
    if high is None:
        return None
    if low is None:
        return high - POSITION_GAP
    if high - low < 2:
        raise _NoRoom
    return low + (high - low) // 2


def _target(
    row: asyncpg.Record | None, before: uuid.UUID | None, after: uuid.UUID | None
) -> int | None:
    """The new position from the neighbours' (None: the end), or _Refused."""
    if row is None:  # a SELECT of scalar subqueries always returns its row
        raise RuntimeError("the neighbours' statement returned no row")
    if (after is not None and row["after"] is None) or (
        before is not None and row["before"] is None
    ):
        raise _Refused(_INVALID, 422)  # not a todo of the user's in the target list
    if after is not None and before is not None:
        if row["following"] != row["before"]:
            raise _Refused(_INVALID, 422)  # not neighbours
        return _between(row["after"], row["before"])
    if after is not None:
        return _between(row["after"], row["following"])
    return _between(row["preceding"], row["before"])


async def _move_once(
    connection: "PoolConnectionProxy[asyncpg.Record]",
    values: dict[str, Any],
    listed: bool,
) -> asyncpg.Record:
    """The API's transaction (services/todo_moves.py), statement by statement."""
    await connection.fetchrow(MOVE_LOCK, values["user_id"], values["list_key"])
    if await connection.fetchrow(MOVE_LOCK_TODO, values["user_id"], values["todo_id"]) is None:
        raise _Refused(_NOT_FOUND, 404)
    position = None
    if values["before"] is not None or values["after"] is not None:
        for respaced in (False, True):
            neighbours = _NEIGHBOURS[listed]
            row = await connection.fetchrow(
                neighbours.sql, *(values[name] for name in neighbours.parameters)
            )
            try:
                position = _target(row, values["before"], values["after"])
                break
            except _NoRoom:
                if respaced:
                    raise
                respace = _RESPACE[listed]
                await connection.fetch(respace.sql, *(values[name] for name in respace.parameters))
    place = _PLACE[listed, position is None]
    values["position"] = position
    moved = await connection.fetchrow(place.sql, *(values[name] for name in place.parameters))
    if moved is None:  # the todo is locked: it is still there
        raise RuntimeError("the moved todo is gone")
    return moved


async def move_todo(request: Request) -> Response:
    """A move to the list named in the body (the reference needs it), after and/or before
    a neighbour: the list's ownership, then one transaction, as the API sends them."""
    try:
        todo_id = uuid.UUID(request.path_params["todo_id"])
        data = await _body(request)
        if not isinstance(data, dict) or "list_id" not in data:
            raise Invalid(data)
        list_id = _uuid_or_none(data["list_id"])
        before, after = _uuid_or_none(data.get("before")), _uuid_or_none(data.get("after"))
        if todo_id in (before, after):
            raise Invalid(todo_id)
    except ValueError:
        return _error(_INVALID, 422)
    user_id = request.path_params["user_id"]
    pool = pool_of(request)
    if list_id is not None and not await pool.fetch(OWNED_LISTS, user_id, [list_id]):
        return _error(_INVALID, 422)
    values = {
        "user_id": user_id,
        "todo_id": todo_id,
        "list_id": list_id,
        "list_key": "" if list_id is None else str(list_id),
        "before": before,
        "after": after,
    }
    for attempt in range(1, _MOVE_ATTEMPTS + 1):
        try:
            async with pool.acquire() as connection, connection.transaction():
                moved = await _move_once(connection, values, list_id is not None)
            return _json(_todo(moved))
        except _Refused as refused:
            return _error(refused.body, refused.status)
        except asyncpg.DeadlockDetectedError:
            if attempt == _MOVE_ATTEMPTS:
                raise
        except asyncpg.ForeignKeyViolationError:  # the list was deleted meanwhile
            return _error(_INVALID, 422)
    raise RuntimeError("unreachable")


async def patch_todo(request: Request) -> Response:
    """A PATCH of the title and/or the completion: the API's UPDATE of the fields sent
    (none: its SELECT), one statement. Other fields, and If-Match (a transaction in the
    API), are not served."""
    try:
        todo_id = uuid.UUID(request.path_params["todo_id"])
        data = await _body(request)
        if not isinstance(data, dict):
            raise Invalid(data)
        values: dict[str, Any] = {"user_id": request.path_params["user_id"], "todo_id": todo_id}
        if "title" in data:
            values["title"] = _title(data["title"])
        if "is_completed" in data:
            if not isinstance(data["is_completed"], bool):
                raise Invalid(data["is_completed"])
            values["is_completed"] = data["is_completed"]
    except ValueError:
        return _error(_INVALID, 422)
    if "if-match" in request.headers or not data.keys() <= set(PATCHED):
        return _error(_NOT_SERVED, 501)
    fields = tuple(name for name in PATCHED if name in data)
    pool = pool_of(request)
    if fields:
        update = _PATCHES[fields]
        row = await pool.fetchrow(update.sql, *(values[name] for name in update.parameters))
    else:
        row = await pool.fetchrow(SELECT_ONE, values["user_id"], todo_id)
    if row is None:
        return _error(_NOT_FOUND, 404)
    return _one(_todo(row))


async def delete_todo(request: Request) -> Response:
    """A DELETE: the API's statement (the todo and its tombstone), a 204 with no body.
    If-Match (a transaction in the API) is not served."""
    try:
        todo_id = uuid.UUID(request.path_params["todo_id"])
    except ValueError:
        return _error(_INVALID, 422)
    if "if-match" in request.headers:
        return _error(_NOT_SERVED, 501)
    row = await pool_of(request).fetchrow(DELETE_ONE.sql, request.path_params["user_id"], todo_id)
    if row is None:
        return _error(_NOT_FOUND, 404)
    # The API's 204 carries its JSON response class's Content-Type, and no body.
    return Response(status_code=204, media_type="application/json")


def _feed_binding(user_id: str) -> bytes:
    return hashlib.blake2b(b"changes\0" + user_id.encode(), digest_size=8).digest()


def _read_snapshot(raw: bytes, offset: int) -> tuple[datetime, tuple[int, int, list[int]], int]:
    """A token's snapshot (services/changes.py `_pack_taken`): when, (xmin, xmax, xip),
    and the offset after it."""
    (micros,) = _TAKEN_AT.unpack_from(raw, offset)
    offset += _TAKEN_AT.size
    xmin, span, count = _SNAPSHOT_HEAD.unpack_from(raw, offset)
    offset += _SNAPSHOT_HEAD.size
    xip = [xmin + _XIP.unpack_from(raw, offset + i * _XIP.size)[0] for i in range(count)]
    offset += count * _XIP.size
    return _EPOCH + timedelta(microseconds=micros), (xmin, xmin + span, xip), offset


def _feed_token(snapshot: tuple[int, int, Any], taken_at: datetime, user_id: str) -> str:
    """The API's `next` after a pass: the pass's snapshot, coarsened as the API does it
    (at most _FEED_MAX_XIP transactions in progress, a span that fits 32 bits)."""
    xmin, xmax, in_progress = snapshot
    xip = sorted(in_progress)
    if len(xip) > _FEED_MAX_XIP:
        xmax, xip = xip[_FEED_MAX_XIP], xip[:_FEED_MAX_XIP]
    if xmax - xmin > _FEED_MAX_SPAN:
        xmax = xmin + _FEED_MAX_SPAN
        xip = [xid for xid in xip if xid < xmax]
    raw = (
        _FEED_HEAD.pack(_FEED_VERSION, _FEED_HAS_OLD)
        + _TAKEN_AT.pack(_micros(taken_at))
        + _SNAPSHOT_HEAD.pack(xmin, xmax - xmin, len(xip))
        + b"".join(_XIP.pack(xid - xmin) for xid in xip)
        + _feed_binding(user_id)
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


async def list_changes(request: Request) -> Response:
    """The change feed, for a token whose pass is over (what a client polls with): the
    API's statement, and its answer when nothing changed. Anything else (no token, a pass
    under way, changes to send) is not served: a 501, which the bench counts as an error."""
    user_id = request.path_params["user_id"]
    try:
        since = request.query_params["since"]
        limit = int(request.query_params.get("limit", str(_FEED_PAGE)))
        raw = base64.urlsafe_b64decode(since + "=" * (-len(since) % 4))
        version, flags = _FEED_HEAD.unpack_from(raw, 0)
        if version != _FEED_VERSION or not 1 <= limit <= _LIMIT_MAX:
            raise Invalid(version)
        if flags != _FEED_HAS_OLD:
            return _error(_NOT_SERVED, 501)
        taken_at, old, end = _read_snapshot(raw, _FEED_HEAD.size)
        if raw[end:] != _feed_binding(user_id):
            raise Invalid(since)
    except (KeyError, ValueError, struct.error):  # binascii.Error is a ValueError
        return _error(_INVALID, 422)
    rows = await pool_of(request).fetch(
        FEED_SINCE.sql, taken_at, _RETENTION, old, user_id, old, limit + 1
    )
    head = rows[0]
    if head["expired"]:
        return _error(_RESYNC, 410)
    if any(row["id"] is not None for row in rows):
        return _error(_NOT_SERVED, 501)
    token = _feed_token(head["snapshot"], head["taken_at"], user_id)
    return _json({"items": [], "next": token, "has_more": False})


async def health(_request: Request) -> Response:
    return _json({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    size = int(os.environ.get("BENCH_REFERENCE_POOL", "10"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_REFERENCE_DSN"],
        min_size=size,
        max_size=size,
        server_settings={"application_name": "bench-reference"},
    )
    try:
        yield
    finally:
        await app.state.pool.close()


_TODOS = "/api/v1/users/{user_id}/todos"
app = Starlette(
    routes=[
        Route(_TODOS, list_todos, methods=["GET"]),
        Route(_TODOS, create_todo, methods=["POST"]),
        Route(f"{_TODOS}/bulk", create_todos, methods=["POST"]),
        Route(f"{_TODOS}/stats", todo_stats, methods=["GET"]),
        Route(f"{_TODOS}/{{todo_id}}", get_todo, methods=["GET"]),
        Route(f"{_TODOS}/{{todo_id}}", patch_todo, methods=["PATCH"]),
        Route(f"{_TODOS}/{{todo_id}}", delete_todo, methods=["DELETE"]),
        Route(f"{_TODOS}/{{todo_id}}/move", move_todo, methods=["POST"]),
        Route("/api/v1/users/{user_id}/changes", list_changes, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ],
    lifespan=lifespan,
)
