"""What must hold before a ratio against the reference means anything: both servers send
the same SQL and answer with the same bytes.

`check_sql` compares the reference's hand-written statements with those the API compiles
(`todo_api.services`), up to whitespace, before anything is started: a change to the API's
SQL stops the bench until bench/reference/sql.py follows it. `check_bodies` runs once both
servers are up and asks each the same questions: GET one, first pages in every sort and
filter the reference serves (`next_cursor` included; a list's in position order too), the
stats, and for create, bulk create, a move and PATCHes (whose ids and timestamps differ
between two writes) each server's answer against a GET of the same todos from the other
server; a DELETE by each is a 204 without a body, and then a 404 from the other.
"""

import http.client
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench.config import BIG_USER, FILTERED_QUERY, SANITY_USER
from bench.reference import sql as reference
from bench.seed import SeedFiles

_BASE = "/api/v1/users/"
# Listings whose bodies must match: the load runs' queries, and tag filters in another
# case than stored (the cursor's binding folds case), in several sorts.
_LIST_QUERIES = (
    "?limit=50",
    FILTERED_QUERY,
    "?tag=work&sort=-priority&limit=20",
    "?priority=low&tag=Home&sort=updated_at&limit=10",
    "?tag=urgent&tag=work&sort=-due_at&limit=5",
)
# Listings of one seeded list ({list_id}): in position order (a page of 50 of its 60 todos,
# and its `next_cursor`), filtered, and in another sort; then the todos in no list.
_LIST_ID_QUERIES = (
    "?list_id={list_id}&sort=position&limit=50",
    "?list_id={list_id}&tag=Work&priority=low&priority=high&sort=position&limit=10",
    "?list_id={list_id}&sort=-due_at&limit=20",
    "?list_id=none&sort=position&limit=5",
)
# The stats count against now(): a todo falling due between the two requests changes
# `overdue`, so a mismatch is asked again before it counts.
_STATS_ATTEMPTS = 3
_CREATE_BODY = {
    "title": "  Sanity check  ",
    "description": "Compared byte for byte",
    "is_completed": True,
    "priority": "medium",
    "due_at": "2026-12-24T18:30:00+01:00",
    "tags": ["Work", "home", "work"],
}
# A keyed create's replay renders the row stored as JSON: with every field given, and with
# the defaults (NULLs, no tags), as the replay run sends it.
_KEYED_BODIES: tuple[dict[str, Any], ...] = (_CREATE_BODY, {"title": "Keyed with the defaults"})
_BULK_BODY = {
    "todos": [
        {"title": "First of three"},
        {"title": "Second", "priority": "high", "due_at": "2026-12-01T09:00:00Z"},
        {"title": "Third", "is_completed": True, "tags": ["errands"], "description": None},
    ]
}
# A todo made to be patched or deleted, and the PATCHes it gets, in turn: the title and
# the completion (the load run's PATCH; the title trimmed as stored), completed again
# (completed_at kept), the title alone, reopened (completed_at cleared), nothing.
_PATCHED_TODO = {"title": "To be patched", "tags": ["work"], "priority": "low"}
_PATCHES: tuple[dict[str, Any], ...] = (
    {"title": "  Patched  ", "is_completed": True},
    {"is_completed": True},
    {"title": "Patched again"},
    {"title": "Reopened", "is_completed": False},
    {},
)
# A 204's headers that say there is no body, compared between the two servers.
_NO_CONTENT_HEADERS = ("content-type", "content-length", "transfer-encoding")
_NO_TODO = "00000000-0000-4000-8000-000000000000"


class SanityFailed(RuntimeError):
    """The reference does not do what the API does, so a ratio would compare other work."""


def _normalized(statement: str) -> str:
    return " ".join(statement.split())


def _different(label: str, api: str, ref: str) -> str | None:
    api, ref = _normalized(api), _normalized(ref)
    if api == ref:
        return None
    at = next(
        (i for i, (a, b) in enumerate(zip(api, ref, strict=False)) if a != b),
        min(len(api), len(ref)),
    )
    return (
        f"{label}: the reference's SQL differs from the API's at character {at}:\n"
        f"  API:       ...{api[max(0, at - 80) : at + 80]}...\n"
        f"  reference: ...{ref[max(0, at - 80) : at + 80]}..."
    )


def check_sql() -> None:
    """Every statement of the reference against the API's, or SanityFailed naming the
    first difference of each. The text is what is compared: it says which value each
    placeholder stands for, so the names the two give their parameters do not matter."""
    from todo_api.models.idempotency import KEY_LIFETIME  # noqa: PLC0415
    from todo_api.models.todos import (  # noqa: PLC0415  (the API's package, only for this)
        POSITION_GAP,
        Sort,
    )
    from todo_api.services import (  # noqa: PLC0415
        changes,
        idempotency,
        lists,
        todo_listing,
        todo_moves,
        todo_stats,
        todos,
    )
    from todo_api.settings import Settings  # noqa: PLC0415

    pairs = [
        ("GET one", todos._SELECT_ONE.sql, reference.SELECT_ONE),
        ("create", todos._INSERT.sql, reference.INSERT),
        ("bulk create", todos._BULK_INSERT.sql, reference.BULK_INSERT),
        ("stats", todo_stats._stats_query(()).sql, reference.STATS),
        ("move: owned lists", lists._OWNED_IDS.sql, reference.OWNED_LISTS),
        ("move: lock", todo_moves._LOCK.sql, reference.MOVE_LOCK),
        ("move: lock todo", todo_moves._LOCK_TODO.sql, reference.MOVE_LOCK_TODO),
    ]
    # Statements whose placeholders vary by variant: the text, and which parameter each
    # number stands for (the API's filter parameters are named `match_...`).
    variants: list[tuple[str, Any, reference.Statement]] = [
        ("keyed create", todos._KEYED_INSERT, reference.KEYED_INSERT),
        (
            "keyed create: forget expired",
            idempotency._FORGET_EXPIRED,
            reference.IDEMPOTENCY_FORGET_EXPIRED,
        ),
        ("keyed transaction: claim", idempotency._CLAIM, reference.IDEMPOTENCY_CLAIM),
        (
            "change feed: a poll after a pass",
            changes._page_query(changes._Shape(since=True, after=False)),
            reference.FEED_SINCE,
        ),
        ("DELETE", todos._DELETE, reference.DELETE_ONE),
    ]
    # A PATCH's UPDATE, for every subset of the fields the reference serves, with the
    # fields in the order the API writes them.
    variants += [
        (
            f"PATCH of {fields}",
            todos._update_query(tuple(name for name in todos._WRITABLE if name in fields)),
            reference.patch_update(fields),
        )
        for fields in reference.patch_variants()
    ]
    for listed in (True, False):
        variants += [
            (
                f"move listed={listed}: neighbours",
                todo_moves._NEIGHBOURS[listed],
                reference.move_neighbours(listed),
            ),
            (
                f"move listed={listed}: respace",
                todo_moves._RESPACE[listed],
                reference.move_respace(listed),
            ),
        ]
        variants += [
            (
                f"move listed={listed} at_the_end={end}: place",
                todo_moves._PLACE[listed, end],
                reference.move_place(listed, at_the_end=end),
            )
            for end in (True, False)
        ]
    for sort, priorities, tags, in_list in reference.list_variants():
        shape = tuple(
            name
            for name, used in (("priorities", priorities), ("tags", tags), (in_list, True))
            if name is not None and used
        )
        variants.append(
            (
                f"list sort={sort} filters={shape}",
                todo_listing._list_query(Sort(sort), shape, after=False),
                reference.list_page(sort, priorities=priorities, tags=tags, in_list=in_list),
            )
        )
    pairs += [(label, api.sql, ref.sql) for label, api, ref in variants]
    problems = [
        problem for label, api, ref in pairs if (problem := _different(label, api, ref)) is not None
    ]
    for label, api, ref in variants:
        named = tuple(name.removeprefix("match_") for name in api.parameters)
        if named != ref.parameters:
            problems.append(f"{label}: the API's parameters are {named}, not {ref.parameters}")
    if tuple(sort.value for sort in Sort) != reference.SORTS:
        problems.append(f"the API's sorts are {[s.value for s in Sort]}, not {reference.SORTS}")
    if POSITION_GAP != reference.POSITION_GAP:
        problems.append(f"the API's POSITION_GAP is {POSITION_GAP}, not {reference.POSITION_GAP}")
    if KEY_LIFETIME.total_seconds() != reference.KEY_LIFETIME_SECONDS:
        problems.append(f"the API's KEY_LIFETIME is {KEY_LIFETIME}, not the reference's")
    if todos.CREATED != reference.CREATED:
        problems.append(f"the API stores a create's status as {todos.CREATED}, not 201")
    if idempotency._KEYS_PRIMARY_KEY != reference.KEYS_PRIMARY_KEY:
        problems.append(f"the keys' primary key is {idempotency._KEYS_PRIMARY_KEY}")
    retention = Settings.model_fields["tombstone_retention"].default
    if retention.total_seconds() != reference.TOMBSTONE_RETENTION_DAYS * 86400:
        problems.append(f"the API's TOMBSTONE_RETENTION default is {retention}")
    if problems:
        raise SanityFailed(
            "bench/reference/sql.py no longer matches the API's SQL; update it:\n"
            + "\n".join(problems)
        )


class Client:
    """One keep-alive connection to one server."""

    def __init__(self, name: str, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.name = name
        self._connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30
        )

    def send(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        sent = {"Content-Type": "application/json"} if body is not None else {}
        data = orjson.dumps(body) if body is not None else None
        self._connection.request(method, path, body=data, headers=sent | (headers or {}))
        response = self._connection.getresponse()
        content = response.read()
        return response.status, content, {k.lower(): v for k, v in response.getheaders()}

    def get(self, path: str, status: int = 200) -> bytes:
        code, body, _headers = self.send("GET", path)
        if code != status:
            raise SanityFailed(f"{self.name}: GET {path} answered {code}: {body[:300]!r}")
        return body

    def close(self) -> None:
        self._connection.close()


@contextmanager
def _clients(api_url: str, ref_url: str) -> Iterator[tuple[Client, Client]]:
    api, ref = Client("API", api_url), Client("reference", ref_url)
    try:
        yield api, ref
    finally:
        api.close()
        ref.close()


def _same(what: str, api: bytes, ref: bytes) -> None:
    if api != ref:
        at = next(
            (i for i, (a, b) in enumerate(zip(api, ref, strict=False)) if a != b),
            min(len(api), len(ref)),
        )
        raise SanityFailed(
            f"{what}: the bodies differ at byte {at}:\n"
            f"  API:       {api[max(0, at - 120) : at + 120]!r}\n"
            f"  reference: {ref[max(0, at - 120) : at + 120]!r}"
        )


def _created_alike(creator: Client, reader: Client) -> None:
    """A todo made by `creator` reads back from `reader` as `creator` returned it."""
    status, body, headers = creator.send("POST", f"{_BASE}{SANITY_USER}/todos", _CREATE_BODY)
    if status != 201:
        raise SanityFailed(f"{creator.name}: create answered {status}: {body[:300]!r}")
    todo_id = orjson.loads(body)["id"]
    path = f"{_BASE}{SANITY_USER}/todos/{todo_id}"
    if headers.get("location") != path:
        raise SanityFailed(f"{creator.name}: create's Location is {headers.get('location')}")
    _same(f"create by the {creator.name}, read by the {reader.name}", reader.get(path), body)
    status, body, _headers = creator.send("POST", f"{_BASE}{SANITY_USER}/todos/bulk", _BULK_BODY)
    if status != 201:
        raise SanityFailed(f"{creator.name}: bulk create answered {status}: {body[:300]!r}")
    read = [
        reader.get(f"{_BASE}{SANITY_USER}/todos/{item['id']}")
        for item in orjson.loads(body)["items"]
    ]
    expected = b'{"items":[' + b",".join(read) + b"]}"
    _same(f"bulk create by the {creator.name}, read by the {reader.name}", expected, body)


def _moved_alike(api: Client, ref: Client, seeded: list[str]) -> int:
    """Moves in one seeded list (`user_id list_id todo_id ...`), by each server in turn,
    each answer read back from the other; then the list in position order from both. How
    many bodies were compared."""
    user_id, list_id, *todos = seeded
    moves: tuple[tuple[Client, str, dict[str, str]], ...] = (
        (api, todos[5], {"after": todos[20]}),
        (ref, todos[30], {"before": todos[2]}),
        (api, todos[7], {"after": todos[8], "before": todos[9]}),
        (ref, todos[11], {}),  # the end of the list
    )
    for mover, todo_id, place in moves:
        reader = ref if mover is api else api
        path = f"{_BASE}{user_id}/todos/{todo_id}"
        status, body, _headers = mover.send("POST", f"{path}/move", {"list_id": list_id, **place})
        if status != 200:
            raise SanityFailed(f"{mover.name}: move {place} answered {status}: {body[:300]!r}")
        _same(
            f"move {place} by the {mover.name}, read by the {reader.name}", reader.get(path), body
        )
    ordered = f"{_BASE}{user_id}/todos?list_id={list_id}&sort=position&limit=100"
    _same(f"GET {ordered} after the moves", api.get(ordered), ref.get(ordered))
    return len(moves) + 1


def _conditional_alike(api: Client, ref: Client, pairs: list[list[str]]) -> int:
    """GET one's ETag is the same from both servers, and sent back in If-None-Match it
    answers 304 with no body and the same ETag from both."""
    for user_id, todo_id in pairs:
        path = f"{_BASE}{user_id}/todos/{todo_id}"
        _status, _body, api_headers = api.send("GET", path)
        _status, _body, ref_headers = ref.send("GET", path)
        etag = api_headers.get("etag")
        if etag is None or ref_headers.get("etag") != etag:
            raise SanityFailed(
                f"GET {path}: ETag {etag!r} from the API, {ref_headers.get('etag')!r} "
                "from the reference"
            )
        for client in (api, ref):
            status, body, headers = client.send("GET", path, headers={"If-None-Match": etag})
            if status != 304 or body or headers.get("etag") != etag:
                raise SanityFailed(
                    f"{client.name}: GET {path} with If-None-Match: {etag} answered "
                    f"{status} with ETag {headers.get('etag')!r} and {len(body)} bytes"
                )
    return len(pairs)


def _keyed_alike(creator: Client, reader: Client, key: str, sent: dict[str, Any]) -> int:
    """A create with an Idempotency-Key by `creator` reads back from `reader` as it was
    returned, and sent again to either server is replayed: the same status, body,
    Location and ETag, marked Idempotent-Replayed (so both fingerprint a request alike,
    and both render the row stored as JSON as the first response); with another body,
    both refuse the key as reused."""
    path = f"{_BASE}{SANITY_USER}/todos"
    keyed = {"Idempotency-Key": key}
    status, body, headers = creator.send("POST", path, sent, keyed)
    if status != 201 or "idempotent-replayed" in headers:
        raise SanityFailed(f"{creator.name}: keyed create answered {status}: {body[:300]!r}")
    location = headers.get("location", "")
    _code, read, read_headers = reader.send("GET", location)
    _same(f"keyed create by the {creator.name}, read by the {reader.name}", read, body)
    if headers.get("etag") != read_headers.get("etag"):
        raise SanityFailed(f"{creator.name}: keyed create's ETag is {headers.get('etag')!r}")
    for replayer in (creator, reader):
        again, replayed, replay_headers = replayer.send("POST", path, sent, keyed)
        expected = (201, "true", location, headers.get("etag"))
        got = (
            again,
            replay_headers.get("idempotent-replayed"),
            replay_headers.get("location"),
            replay_headers.get("etag"),
        )
        if got != expected:
            raise SanityFailed(
                f"{replayer.name}: the replay of {creator.name}'s keyed create answered "
                f"(status, Idempotent-Replayed, Location, ETag) {got}, not {expected}"
            )
        _same(f"replay by the {replayer.name} of the {creator.name}'s create", replayed, body)
    other = {**sent, "title": f"{sent['title']}, another request"}
    for refuser in (creator, reader):
        code, refused, _headers = refuser.send("POST", path, other, keyed)
        if code != 422:
            raise SanityFailed(
                f"{refuser.name}: {creator.name}'s key with another body answered {code}, "
                f"not 422: {refused[:300]!r}"
            )
    return 3


def feed_token(client: Client, user_id: str) -> str:
    """The `next` of the user's change feed once a pass is over: what a client that is
    in sync polls with."""
    path = f"{_BASE}{user_id}/changes?limit=1000"
    while True:
        status, body, _headers = client.send("GET", path)
        if status != 200:
            raise SanityFailed(f"{client.name}: GET {path} answered {status}: {body[:300]!r}")
        page = orjson.loads(body)
        token = page["next"]
        if not page["has_more"]:
            return str(token)
        path = f"{_BASE}{user_id}/changes?limit=1000&since={token}"


def _polled_alike(api: Client, ref: Client, user_id: str) -> int:
    """An empty poll: both servers answer the same empty page, and each one's `next` is
    a token the other takes (both read and write the API's tokens)."""
    token = feed_token(api, user_id)
    for first, second in ((api, ref), (ref, api)):
        path = f"{_BASE}{user_id}/changes?since="
        status, body, _headers = first.send("GET", path + token)
        if status != 200:
            raise SanityFailed(f"{first.name}: an empty poll answered {status}: {body[:300]!r}")
        page = orjson.loads(body)
        again, body_again, _headers = second.send("GET", path + page.pop("next"))
        if again != 200:
            raise SanityFailed(
                f"{second.name}: a poll with the {first.name}'s token answered {again}: "
                f"{body_again[:300]!r}"
            )
        other = orjson.loads(body_again)
        other.pop("next")
        expected = {"items": [], "has_more": False}
        if page != expected or other != expected:
            raise SanityFailed(
                f"an empty poll of {user_id}: {page} from the {first.name}, {other} from "
                f"the {second.name}"
            )
    return 2


def _patched_alike(patcher: Client, reader: Client) -> int:
    """PATCHes by `patcher` of a todo it created, in turn (`_PATCHES`), each answer read
    back from `reader`, its ETag too; how many were compared."""
    status, body, _headers = patcher.send("POST", f"{_BASE}{SANITY_USER}/todos", _PATCHED_TODO)
    if status != 201:
        raise SanityFailed(f"{patcher.name}: create answered {status}: {body[:300]!r}")
    path = f"{_BASE}{SANITY_USER}/todos/{orjson.loads(body)['id']}"
    for change in _PATCHES:
        status, body, headers = patcher.send("PATCH", path, change)
        if status != 200:
            raise SanityFailed(f"{patcher.name}: PATCH {change} answered {status}: {body[:300]!r}")
        _code, read, read_headers = reader.send("GET", path)
        _same(f"PATCH {change} by the {patcher.name}, read by the {reader.name}", read, body)
        if headers.get("etag") != read_headers.get("etag"):
            raise SanityFailed(
                f"{patcher.name}: PATCH {change}'s ETag is {headers.get('etag')!r}, "
                f"{read_headers.get('etag')!r} from the {reader.name}"
            )
    return len(_PATCHES)


def _deleted_alike(api: Client, ref: Client) -> int:
    """A todo each server created, deleted by it: a 204 without a body, with the same
    framing headers from both (`_NO_CONTENT_HEADERS`); then each deleted todo is a 404
    from the other server, to GET and to DELETE. How many answers were compared."""
    answers = {}
    for deleter, reader in ((api, ref), (ref, api)):
        status, body, _headers = deleter.send("POST", f"{_BASE}{SANITY_USER}/todos", _PATCHED_TODO)
        if status != 201:
            raise SanityFailed(f"{deleter.name}: create answered {status}: {body[:300]!r}")
        path = f"{_BASE}{SANITY_USER}/todos/{orjson.loads(body)['id']}"
        status, body, headers = deleter.send("DELETE", path)
        if status != 204 or body:
            raise SanityFailed(f"{deleter.name}: DELETE answered {status}: {body[:300]!r}")
        answers[deleter.name] = {name: headers.get(name) for name in _NO_CONTENT_HEADERS}
        reader.get(path, 404)
        status, body, _headers = reader.send("DELETE", path)
        if status != 404:
            raise SanityFailed(f"{reader.name}: DELETE of a deleted todo answered {status}")
    if answers[api.name] != answers[ref.name]:
        raise SanityFailed(f"DELETE's 204: the headers {answers} differ")
    return 2


def _missing_alike(api: Client, ref: Client, user_id: str) -> int:
    """PATCH and DELETE of a todo that does not exist: the same 404 from both servers."""
    path = f"{_BASE}{user_id}/todos/{_NO_TODO}"
    for method, body in (("PATCH", _PATCHES[0]), ("DELETE", None)):
        answers = []
        for client in (api, ref):
            status, answer, _headers = client.send(method, path, body)
            if status != 404:
                raise SanityFailed(f"{client.name}: {method} {path} answered {status}")
            answers.append(answer)
        _same(f"{method} {path}", *answers)
    return 2


def check_bodies(api_url: str, ref_url: str, files: SeedFiles) -> int:
    """The same answers, byte for byte, from both servers; how many were compared."""
    compared = 0
    users = files.users.read_text().split()[:3]
    pairs = [line.split() for line in files.todos.read_text().splitlines()[:20]]
    with _clients(api_url, ref_url) as (api, ref):
        for user_id, todo_id in pairs:
            path = f"{_BASE}{user_id}/todos/{todo_id}"
            _same(f"GET {path}", api.get(path), ref.get(path))
            compared += 1
        missing = f"{_BASE}{users[0]}/todos/00000000-0000-4000-8000-000000000000"
        _same(f"GET {missing}", api.get(missing, 404), ref.get(missing, 404))
        listings = [f"{_BASE}{user}/todos{query}" for user in users for query in _LIST_QUERIES]
        listings += [
            f"{_BASE}{BIG_USER}/todos?limit=50&sort={sort}" for sort in reference.USER_SORTS
        ]
        lists = [line.split() for line in files.lists.read_text().splitlines()[:3]]
        listings += [
            f"{_BASE}{user_id}/todos{query.format(list_id=list_id)}"
            for user_id, list_id, *_todos in lists
            for query in _LIST_ID_QUERIES
        ]
        listings.append(f"{_BASE}{BIG_USER}/todos{FILTERED_QUERY}")
        for path in listings:
            _same(f"GET {path}", api.get(path), ref.get(path))
            compared += 1
        for user_id in (BIG_USER, users[0]):
            path = f"{_BASE}{user_id}/todos/stats"
            for attempt in range(_STATS_ATTEMPTS):
                api_body, ref_body = api.get(path), ref.get(path)
                if api_body == ref_body:
                    break
                if attempt == _STATS_ATTEMPTS - 1:
                    _same(f"GET {path}", api_body, ref_body)
            compared += 1
        _created_alike(ref, api)
        _created_alike(api, ref)
        compared += 4
        compared += _patched_alike(api, ref) + _patched_alike(ref, api)
        compared += _deleted_alike(api, ref) + _missing_alike(api, ref, users[0])
        compared += _moved_alike(api, ref, lists[0])
        compared += _conditional_alike(api, ref, pairs[:5])
        stamp = time.time_ns()
        for number, sent in enumerate(_KEYED_BODIES):
            compared += _keyed_alike(api, ref, f"sanity-api-{stamp}-{number}", sent)
            compared += _keyed_alike(ref, api, f"sanity-ref-{stamp}-{number}", sent)
        compared += _polled_alike(api, ref, users[2])
    return compared


def check_get_one(api_url: str, other_url: str, files: SeedFiles) -> int:
    """GET one answered alike by the API and a server that serves only that (the FastAPI
    floor): the same bodies, found or not; how many were compared."""
    pairs = [line.split() for line in files.todos.read_text().splitlines()[:20]]
    with _clients(api_url, other_url) as (api, other):
        for user_id, todo_id in pairs:
            path = f"{_BASE}{user_id}/todos/{todo_id}"
            _same(f"GET {path}", api.get(path), other.get(path))
        missing = f"{_BASE}{pairs[0][0]}/todos/00000000-0000-4000-8000-000000000000"
        _same(f"GET {missing}", api.get(missing, 404), other.get(missing, 404))
    return len(pairs) + 1
