"""Opaque pagination cursors: where the previous page ended, in the order of its sort.

Keyset pagination makes page 1,000 as cheap as page 1 and visits every item exactly once
while items are added. A cursor holds the last item's sort key, `created_at` and `id`
(the tie-breakers of every sort), packed in binary and base64url-encoded, so clients treat
it as a token.

A cursor is only a position, never a permission: the user and the filters always come
from the request, so no cursor, however forged, can widen what a request sees. It also
carries a digest of the user, the sort and the filters it was issued for (`binding`), so
one reused with any of them changed is a 422 instead of a page that silently starts from
the wrong place.
"""

import base64
import binascii
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from todo_api.errors import InvalidInput
from todo_api.models.todos import Priority, Sort

CURSOR_MAX_LENGTH = 128  # a real cursor is 60 characters
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELD = "query.cursor"
_VERSION = 2
_SORTS = tuple(Sort)
# version, sort, kind of key (0 none, 1 an instant, 2 a number), key, created_at, id, binding
_LAYOUT = struct.Struct(">BBBqq16s8s")
_NO_KEY, _INSTANT, _NUMBER = 0, 1, 2
# Also what a cursor of the wrong shape is told before it reaches the service.
NOT_A_CURSOR = "cursor must be the next_cursor of a previous page"
OTHER_LISTING = (
    "This cursor belongs to another listing: it was issued for another sort, other filters "
    "or another user. Send the same sort and filters as for the page that returned it, or "
    "start again without a cursor."
)

SortKey = datetime | int | None


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch keep PostgreSQL's timestamp precision exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last item of a page: its sort key (None for a missing due date) and tie-breakers."""

    sort: Sort
    key: SortKey
    created_at: datetime
    id: uuid.UUID

    def encode(self, binding: bytes) -> str:
        """The token for a listing identified by `binding` (8 bytes)."""
        if self.key is None:
            kind, key = _NO_KEY, 0
        elif isinstance(self.key, datetime):
            kind, key = _INSTANT, _micros(self.key)
        else:
            kind, key = _NUMBER, self.key
        raw = _LAYOUT.pack(
            _VERSION,
            _SORTS.index(self.sort),
            kind,
            key,
            _micros(self.created_at),
            self.id.bytes,
            binding,
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _expected_kinds(sort: Sort) -> tuple[int, ...]:
    if sort.key in {"priority", "position"}:
        return (_NUMBER,)
    if sort.key == "due_at":
        return (_INSTANT, _NO_KEY)
    return (_INSTANT,)


def decode_cursor(token: str, *, sort: Sort, binding: bytes) -> Cursor:
    """Parse a cursor from a client, rejecting anything this service did not issue for
    the listing identified by `binding` (whose sort is `sort`). A well-formed cursor
    made by hand is accepted: it can only choose where a page starts."""
    try:
        raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
        version, sort_index, kind, key, created_micros, id_bytes, issued_for = _LAYOUT.unpack(raw)
        if version != _VERSION or sort_index >= len(_SORTS):
            raise ValueError(version)
        created_at = _EPOCH + timedelta(microseconds=created_micros)
        sort_key: SortKey = key
        if kind == _INSTANT:
            sort_key = _EPOCH + timedelta(microseconds=key)
        elif kind == _NO_KEY:
            sort_key = None
    except (ValueError, OverflowError, struct.error, binascii.Error):
        raise InvalidInput(_FIELD, NOT_A_CURSOR) from None
    if issued_for != binding or _SORTS[sort_index] != sort:
        raise InvalidInput(_FIELD, OTHER_LISTING)
    if kind not in _expected_kinds(sort) or (
        sort.key == "priority" and not 0 <= key < len(Priority)
    ):
        raise InvalidInput(_FIELD, NOT_A_CURSOR)
    return Cursor(sort=sort, key=sort_key, created_at=created_at, id=uuid.UUID(bytes=id_bytes))
