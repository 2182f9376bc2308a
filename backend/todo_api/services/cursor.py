"""Opaque pagination cursors: the `(created_at, id)` position of the last item on a page.

Keyset pagination makes page 1,000 as cheap as page 1 and visits every item exactly once
while new items are being added. The cursor is base64url so clients treat it as a token;
it also records the sort order, so a cursor cannot be replayed against the other order.
"""

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from todo_api.errors import InvalidInput

SortOrder = Literal["asc", "desc"]
CURSOR_MAX_LENGTH = 128  # a real cursor is about 60 characters
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELD = "query.cursor"
# Also what a cursor of the wrong shape is told before it reaches the service.
NOT_A_CURSOR = "cursor must be the next_cursor of a previous page"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended."""

    created_at: datetime
    id: uuid.UUID
    order: SortOrder

    def encode(self) -> str:
        """Microseconds since the epoch keep PostgreSQL's timestamp precision exactly."""
        micros = (self.created_at - _EPOCH) // timedelta(microseconds=1)
        raw = f"{self.order}:{micros}:{self.id.hex}".encode("ascii")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, order: SortOrder) -> Cursor:
    """Parse a cursor from a client, rejecting anything this service did not issue."""
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        cursor_order, micros, todo_id = raw.split(":")
        if cursor_order not in ("asc", "desc"):
            raise ValueError(cursor_order)
        created_at = _EPOCH + timedelta(microseconds=int(micros))
        cursor = Cursor(created_at=created_at, id=uuid.UUID(hex=todo_id), order=order)
    except (ValueError, OverflowError, binascii.Error):
        raise InvalidInput(_FIELD, NOT_A_CURSOR) from None
    if cursor_order != order:
        raise InvalidInput(_FIELD, f"This cursor was issued for order={cursor_order}.")
    return cursor
