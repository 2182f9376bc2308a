"""What every resource's model is made of: the rules for text, identifiers and instants,
the names of constraints, and the base of every request body.

A todo's title and a list's name follow the same text rules (NFC, trimmed, not blank), so
they are written once, here; each resource's module (`todos`, `lists`) builds its own
fields from them.
"""

import re
import unicodedata
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    model_validator,
)
from sqlalchemy import MetaData
from sqlmodel import SQLModel

# PostgreSQL text cannot hold U+0000, so a NUL must be a 422 at the edge, not a 500 in the driver.
NO_NUL_CHARACTER = r"^[^\x00]*$"
USER_ID_MAX_LENGTH = 128
# At least one character that is not a dot: `.` and `..` would be path dot segments.
USER_ID_PATTERN = r"^[A-Za-z0-9._~:@|+\-]*[A-Za-z0-9_~:@|+\-][A-Za-z0-9._~:@|+\-]*$"

# What a title loses at both ends: Unicode's White_Space property, spelled out because
# `\s` means something else in each regex engine (Python's includes U+001C..U+001F,
# JavaScript's U+FEFF, JSON Schema validators use either).
_WHITE_SPACE_CLASS = r"\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Characters that show nothing and are not white space: zero-width space, non-joiner and
# joiner, word joiner, and the byte order mark. A text of only these looks empty.
_INVISIBLE_CLASS = r"\u200b-\u200d\u2060\ufeff"
# No NUL anywhere, and at least one character that survives the trimming and is visible.
NON_BLANK_TEXT = rf"^[^\x00]*[^\x00{_WHITE_SPACE_CLASS}{_INVISIBLE_CLASS}][^\x00]*$"


EXAMPLE_USER_ID = "alice"
EXAMPLE_TIME = "2026-11-23T09:15:02.123456Z"


def trim(text: str) -> str:
    return text.strip(WHITE_SPACE)


def nfc(text: str) -> str:
    """Unicode's composed form: "Cafe\u0301" (e and a combining accent) is "Café", so the
    two spellings are one text to store, compare and search."""
    return unicodedata.normalize("NFC", text)


def at_most(limit: int, text: str) -> str:
    """`text`, normalized, still within `limit`: NFC lengthens a few rare characters."""
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return text


# Only the RFC 3339 shape: pydantic alone would also take a date without a time, or a
# string of digits as seconds since the epoch. A missing offset still passes this, to get
# pydantic's own "timezone_aware" error, which says what is missing. Digits of a second
# beyond the microsecond (PostgreSQL's precision) are dropped.
_RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")
NOT_AN_INSTANT = "must be an RFC 3339 date and time with an offset, such as 2026-11-27T17:00:00Z"


def _rfc_3339_only(value: object) -> object:
    if isinstance(value, str) and _RFC_3339.fullmatch(value):
        return value
    if isinstance(value, datetime) or value is None:
        return value
    raise ValueError(NOT_AN_INSTANT)


def _in_utc(value: datetime) -> datetime:
    """Stored and returned in UTC like every timestamp; the client's offset is not kept."""
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 is after the last datetime
        raise ValueError("must be before the year 10000 in UTC") from None


# An instant: an RFC 3339 string with an offset (never a number of seconds), in UTC once
# parsed, in a body as in a query string.
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc_3339_only), AfterValidator(_in_utc)]


TIME_ZONE_MAX_LENGTH = 64


@cache
def _time_zones() -> frozenset[str]:
    """The IANA zone names, from the `tzdata` package's list: the system's database also
    has `localtime`, a link to whatever zone the server happens to be set to."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def _known_time_zone(name: str) -> str:
    if name not in _time_zones():
        raise ValueError("must be an IANA time zone name, such as UTC or Europe/Paris")
    return name


TimeZoneName = Annotated[
    str, StringConstraints(max_length=TIME_ZONE_MAX_LENGTH), AfterValidator(_known_time_zone)
]


# Constraint names are stable and predictable, so migrations can refer to them.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def document_read_only_fields(schema: dict[str, Any], model: type["RequestBody"]) -> None:
    """List the ignored fields in a body's schema as `readOnly` (OpenAPI: "SHOULD NOT be
    sent", which Swagger UI, ReDoc and schemathesis honour), of any value, so the document
    allows exactly what the server accepts next to `additionalProperties: false`."""
    properties: dict[str, Any] = schema["properties"]
    for name in sorted(model.read_only_fields):
        properties[name] = {
            "readOnly": True,
            "description": "Returned by the API; ignored if sent.",
        }


class RequestBody(SQLModel):
    """What POST, PUT and PATCH bodies share: unknown keys are rejected, so a typo such as
    `completed` is a 422 naming it rather than a 201 that drops the value; the fields the
    API returns (`read_only_fields`) are ignored, so a client can send back what it read."""

    read_only_fields: ClassVar[frozenset[str]] = frozenset()

    # SQLModel's config type is not exported; pydantic merges this with SQLModel's own.
    model_config = ConfigDict(  # type: ignore[assignment]
        extra="forbid", json_schema_extra=document_read_only_fields
    )

    @model_validator(mode="before")
    @classmethod
    def _ignore_read_only_fields(cls, data: object) -> object:
        if isinstance(data, dict) and not cls.read_only_fields.isdisjoint(data):
            return {name: value for name, value in data.items() if name not in cls.read_only_fields}
        return data
