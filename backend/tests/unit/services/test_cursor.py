"""Pagination cursors: exact round trips, bound to their listing, and every malformed or
mismatched token is a 422 (InvalidInput) naming `query.cursor`."""

import base64
import re
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from todo_api.errors import InvalidInput
from todo_api.models.todos import Sort
from todo_api.services.cursor import (
    CURSOR_MAX_LENGTH,
    NOT_A_CURSOR,
    OTHER_LISTING,
    Cursor,
    SortKey,
    decode_cursor,
)

TODO_ID = uuid.UUID("0f8fe0a1-7f3b-4a0e-9a43-8f1b2a3c4d5e")
BINDING = b"listing1"
OTHER_BINDING = b"listing2"
# The pattern the list route enforces on `cursor` before the service ever sees it.
ROUTE_CURSOR_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


TIMESTAMPS = [
    pytest.param(datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), id="microseconds"),
    pytest.param(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), id="whole-second"),
    pytest.param(datetime(1970, 1, 1, tzinfo=UTC), id="epoch"),
    pytest.param(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="before-epoch"),
    pytest.param(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="year-9999"),
    pytest.param(
        datetime(2024, 5, 6, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        id="non-utc-offset",
    ),
]


def _key_for(sort: Sort, moment: datetime) -> SortKey:
    if sort.key == "position":
        return -3 * 2**24
    return 2 if sort.key == "priority" else moment


@pytest.mark.parametrize("created_at", TIMESTAMPS)
@pytest.mark.parametrize("sort", list(Sort))
def test_round_trip_keeps_every_part_exactly(created_at: datetime, sort: Sort) -> None:
    key = _key_for(sort, created_at)
    token = Cursor(sort=sort, key=key, created_at=created_at, id=TODO_ID).encode(BINDING)

    decoded = decode_cursor(token, sort=sort, binding=BINDING)

    assert decoded == Cursor(sort=sort, key=key, created_at=created_at, id=TODO_ID)
    assert decoded.created_at.utcoffset() == timedelta(0)
    assert ROUTE_CURSOR_PATTERN.match(token)
    assert len(token) <= CURSOR_MAX_LENGTH


def test_a_missing_due_date_round_trips_as_none() -> None:
    token = Cursor(sort=Sort.DUE_AT, key=None, created_at=MOMENT, id=TODO_ID).encode(BINDING)

    assert decode_cursor(token, sort=Sort.DUE_AT, binding=BINDING).key is None


@pytest.mark.parametrize(
    ("sort", "binding"),
    [
        pytest.param(Sort.CREATED_AT, BINDING, id="another-sort"),
        pytest.param(Sort.CREATED_AT_DESC, OTHER_BINDING, id="another-listing"),
    ],
)
def test_a_cursor_of_another_listing_is_refused(sort: Sort, binding: bytes) -> None:
    token = Cursor(Sort.CREATED_AT_DESC, MOMENT, MOMENT, TODO_ID).encode(BINDING)

    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token, sort=sort, binding=binding)

    assert caught.value.field == "query.cursor"
    assert caught.value.message == OTHER_LISTING


def _raw(*, version: int = 2, sort: int = 0, kind: int = 1, key: int = 0, micros: int = 0) -> str:
    return _token(
        struct.pack(">BBBqq16s8s", version, sort, kind, key, micros, TODO_ID.bytes, BINDING)
    )


@pytest.mark.parametrize(
    ("token", "sort"),
    [
        pytest.param("", Sort.CREATED_AT_DESC, id="empty"),
        pytest.param("not a cursor", Sort.CREATED_AT_DESC, id="garbage-with-spaces"),
        pytest.param("Zm9v", Sort.CREATED_AT_DESC, id="base64-of-foo"),
        pytest.param("A", Sort.CREATED_AT_DESC, id="impossible-base64-length"),
        pytest.param("é", Sort.CREATED_AT_DESC, id="non-ascii-token"),
        pytest.param(_token(b"desc:0:" + TODO_ID.hex.encode()), Sort.CREATED_AT_DESC, id="v1"),
        pytest.param(_raw()[:-4], Sort.CREATED_AT_DESC, id="truncated"),
        pytest.param(_raw() + "AAAA", Sort.CREATED_AT_DESC, id="too-long"),
        pytest.param(_raw(version=3), Sort.CREATED_AT_DESC, id="unknown-version"),
        pytest.param(_raw(sort=99), Sort.CREATED_AT_DESC, id="unknown-sort"),
        pytest.param(_raw(kind=7), Sort.CREATED_AT_DESC, id="unknown-kind-of-key"),
        pytest.param(_raw(micros=2**62), Sort.CREATED_AT_DESC, id="after-year-9999"),
        pytest.param(_raw(micros=-(2**62)), Sort.CREATED_AT_DESC, id="before-year-1"),
        pytest.param(
            _raw(sort=list(Sort).index(Sort.PRIORITY), kind=1),
            Sort.PRIORITY,
            id="priority-with-an-instant",
        ),
        pytest.param(
            _raw(sort=list(Sort).index(Sort.PRIORITY), kind=2, key=2**40),
            Sort.PRIORITY,
            id="priority-out-of-range",
        ),
        pytest.param(
            _raw(sort=list(Sort).index(Sort.UPDATED_AT), kind=0),
            Sort.UPDATED_AT,
            id="updated-at-missing",
        ),
    ],
)
def test_malformed_cursor_is_invalid_input_on_query_cursor(token: str, sort: Sort) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token, sort=sort, binding=BINDING)

    assert caught.value.field == "query.cursor"
    assert caught.value.message == NOT_A_CURSOR
