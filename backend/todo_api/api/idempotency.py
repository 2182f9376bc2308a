"""The `Idempotency-Key` request header, on every POST that creates (a todo, a bulk
create, a list) and on the move: HTTP around `services.idempotency`.

The key is a Structured Field string (`Idempotency-Key: "8e03978e-40d5"`), as the IETF
draft writes it; the bare token many clients send (`Idempotency-Key: 8e03978e-40d5`) is
taken too. The request is identified by its method, its path and its body as validated,
so reordered JSON members or other whitespace are the same request, and the same key on
another path or with another body is IDEMPOTENCY_KEY_REUSED. A replay answers the first
response's status, body and `Location` (and ETag, for one item), marked
`Idempotent-Replayed: true`.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

import orjson
from asyncpg import Record
from fastapi import Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from todo_api.api.conditional import etag_of
from todo_api.api.parameters import database, nudge_purger
from todo_api.api.responses import JSONResponse
from todo_api.db.database import Transaction
from todo_api.errors import InvalidInput
from todo_api.models.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH
from todo_api.services.idempotency import Inserted, StoredResponse, fingerprint, run_once

REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII but for the space, the quote and the backslash, quoted or bare.
_KEY_CHARACTERS = rf"[\x21\x23-\x5b\x5d-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}"
_KEY = re.compile(rf'"({_KEY_CHARACTERS})"|({_KEY_CHARACTERS})')
# The same, as the OpenAPI document states it.
KEY_PATTERN = rf'^[ \t]*(?:"{_KEY_CHARACTERS}"|{_KEY_CHARACTERS})[ \t]*$'
BAD_KEY = (
    f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters "
    "without spaces, quotes or backslashes, optionally in double quotes: a UUID is best."
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description=(
            "A key of your choosing (a new UUID per request): sent again with the same "
            "body within 24 hours, the first response is replayed instead of writing "
            "again, marked `Idempotent-Replayed: true`."
        ),
    ),
]


def _parse_key(value: str) -> str:
    match = _KEY.fullmatch(value.strip(" \t"))
    if match is None:
        raise InvalidInput("header.Idempotency-Key", BAD_KEY)
    return match.group(1) or match.group(2)


def _request_fingerprint(request: Request, body: BaseModel) -> bytes:
    return fingerprint(
        request.method.encode(),
        request.url.path.encode(),
        orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS),
    )


async def once(
    request: Request,
    key: str,
    user_id: str,
    body: BaseModel,
    respond: Callable[[Transaction], Awaitable[JSONResponse]],
    *,
    one_item: bool,
) -> Response:
    """`respond` executed once for the user's `key`, in a transaction with the key (see
    `services.idempotency.run_once`)."""
    parsed = _parse_key(key)

    async def execute(transaction: Transaction) -> StoredResponse:
        response = await respond(transaction)
        return StoredResponse(
            response.status_code, bytes(response.body), response.headers.get("Location")
        )

    outcome = await run_once(
        database(request), user_id, parsed, _request_fingerprint(request, body), execute
    )
    nudge_purger(request)
    stored = outcome.response
    assert stored.body is not None  # noqa: S101  (run_once stores bodies as sent)
    headers = {"Location": stored.location} if stored.location else {}
    if one_item:
        headers["ETag"] = etag_of(stored.body)
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(
        stored.body,
        status_code=stored.status_code,
        headers=headers,
        media_type=JSONResponse.media_type,
    )


async def insert_once(
    request: Request,
    key: str,
    body: BaseModel,
    insert: Callable[[str, bytes], Awaitable[Inserted]],
    respond: Callable[[Record | Mapping[str, Any]], JSONResponse],
    revive: Callable[[dict[str, Any]], Mapping[str, Any]],
) -> Response:
    """A keyed create of one row in one statement (`services.idempotency.keyed_insert`):
    `insert(key, fingerprint)` sends it; `respond` renders the row it inserted, and on a
    replay the row the first request inserted, stored as JSON and `revive`d to the
    values `respond` takes, so the replay's bytes are the first response's."""
    inserted = await insert(_parse_key(key), _request_fingerprint(request, body))
    nudge_purger(request)
    if inserted.row is not None:
        return respond(inserted.row)
    assert inserted.replay is not None  # noqa: S101  (a row or a replay)
    assert inserted.replay.record is not None  # noqa: S101  (keyed inserts store the record)
    response = respond(revive(inserted.replay.record))
    response.headers[REPLAYED_HEADER] = "true"
    return response
