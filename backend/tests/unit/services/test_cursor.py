"""Pagination cursors: exact round trips, and every malformed token is a 422 (InvalidInput)."""

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from todo_api.errors import InvalidInput
from todo_api.services.cursor import CURSOR_MAX_LENGTH, Cursor, SortOrder, decode_cursor

TODO_ID = uuid.UUID("0f8fe0a1-7f3b-4a0e-9a43-8f1b2a3c4d5e")
# The pattern the list route enforces on `cursor` before the service ever sees it.
ROUTE_CURSOR_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


def _token(raw: bytes) -> str:
    """A token built the way the service builds them, from an arbitrary payload."""
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


@pytest.mark.parametrize("created_at", TIMESTAMPS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_round_trip_keeps_created_at_to_the_microsecond_and_the_id(
    created_at: datetime, order: SortOrder
) -> None:
    token = Cursor(created_at=created_at, id=TODO_ID, order=order).encode()

    decoded = decode_cursor(token, order)

    assert decoded.created_at == created_at
    assert decoded.id == TODO_ID
    assert decoded.order == order


def test_decoded_created_at_is_timezone_aware_utc() -> None:
    token = Cursor(datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), TODO_ID, "desc").encode()

    decoded = decode_cursor(token, "desc")

    assert decoded.created_at.utcoffset() == timedelta(0)
    assert decoded.created_at.microsecond == 6


@pytest.mark.parametrize("created_at", TIMESTAMPS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_encoded_cursor_passes_the_route_pattern_and_length_limit(
    created_at: datetime, order: SortOrder
) -> None:
    token = Cursor(created_at=created_at, id=uuid.UUID(int=2**128 - 1), order=order).encode()

    assert ROUTE_CURSOR_PATTERN.match(token)
    assert len(token) <= CURSOR_MAX_LENGTH


@pytest.mark.parametrize(("issued_for", "used_with"), [("asc", "desc"), ("desc", "asc")])
def test_cursor_for_one_order_is_rejected_for_the_other(
    issued_for: SortOrder, used_with: SortOrder
) -> None:
    token = Cursor(datetime(2024, 1, 1, tzinfo=UTC), TODO_ID, issued_for).encode()

    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token, used_with)

    assert caught.value.field == "query.cursor"
    assert f"order={issued_for}" in caught.value.message


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("not a cursor", id="garbage-with-spaces"),
        pytest.param("Zm9v", id="base64-of-foo"),
        pytest.param("A", id="impossible-base64-length"),
        pytest.param("@@@@", id="no-base64-alphabet"),
        pytest.param("é", id="non-ascii-token"),
        pytest.param("カーソル", id="non-ascii-token-cjk"),
        pytest.param(_token(b"\xff\xfe\xfd"), id="payload-not-ascii"),
        pytest.param(_token("asc:0:é".encode()), id="payload-utf8-not-ascii"),
        pytest.param(_token(b"asc:0"), id="two-parts"),
        pytest.param(_token(f"asc:0:{TODO_ID.hex}:extra".encode()), id="four-parts"),
        pytest.param(_token(b"asc:0:not-a-uuid"), id="bad-uuid"),
        pytest.param(_token(b"asc:0:" + b"0" * 31), id="uuid-too-short"),
        pytest.param(_token(f"asc:soon:{TODO_ID.hex}".encode()), id="micros-not-a-number"),
        pytest.param(_token(f"asc:1.5:{TODO_ID.hex}".encode()), id="micros-a-float"),
        pytest.param(_token(f"asc::{TODO_ID.hex}".encode()), id="micros-empty"),
        pytest.param(
            _token(f"asc:{10**18}:{TODO_ID.hex}".encode()), id="timestamp-after-year-9999"
        ),
        pytest.param(
            _token(f"asc:{-(10**18)}:{TODO_ID.hex}".encode()), id="timestamp-before-year-1"
        ),
        pytest.param(
            _token(f"asc:{10**30}:{TODO_ID.hex}".encode()), id="timestamp-overflows-timedelta"
        ),
        pytest.param(
            _token(f"asc:{'9' * 5000}:{TODO_ID.hex}".encode()), id="timestamp-5000-digits"
        ),
        pytest.param(_token(f"sideways:0:{TODO_ID.hex}".encode()), id="unknown-order"),
        pytest.param(_token(f"ASC:0:{TODO_ID.hex}".encode()), id="order-wrong-case"),
        pytest.param(_token(f":0:{TODO_ID.hex}".encode()), id="order-empty"),
    ],
)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_malformed_cursor_is_invalid_input_on_query_cursor(token: str, order: SortOrder) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token, order)

    assert caught.value.field == "query.cursor"
    assert caught.value.message
