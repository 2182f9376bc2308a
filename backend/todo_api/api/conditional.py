"""Conditional requests (RFC 9110, section 13): strong ETags, `If-None-Match` on reads and
`If-Match` on writes of one todo or list.

An item's ETag is a hash of its representation, the exact bytes of its JSON body, so it
changes exactly when the representation does (a list's `todo_count` too, when a todo
joins it) and never otherwise, with nothing stored for it. A read whose
`If-None-Match` names the current ETag answers 304 without a body. A write whose
`If-Match` does not name it is refused with 412 and the current ETag, and changes
nothing; the check and the write are one atomic step (`services.preconditions`).

Tags compare as the RFC says: `If-Match` strongly (a weak `W/"..."` tag never matches),
`If-None-Match` weakly; `*` matches any current representation, and a missing item stays
a 404 whatever the header says.
"""

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from asyncpg import Record
from fastapi import Header, Request
from starlette.responses import Response

from todo_api.errors import InvalidInput, PreconditionFailed, PreconditionRequired
from todo_api.services.preconditions import Precondition

# An entity-tag (RFC 9110 8.8.3), in ASCII: the obs-text the RFC also allows is no
# character an ETag of this service has.
_TAG = r'(?:W/)?"[!#-~]*"'
# What the headers accept, as the OpenAPI document states it: `*`, or a list of tags.
# List elements may be empty and padded with spaces or tabs (RFC 9110 5.6.1).
ENTITY_TAGS_PATTERN = rf"^[ \t]*(?:\*|(?:,[ \t]*)*{_TAG}(?:[ \t]*,(?:[ \t]*{_TAG})?)*)[ \t]*$"
_ELEMENT = re.compile(r'[ \t]*(?:(\*)|(W/)?("[\x21\x23-\x7e]*"))[ \t]*(?:,|$)')
_EMPTY_ELEMENT = re.compile(r"[ \t]*,")
MALFORMED = (
    "{header} must be * or a comma-separated list of entity tags in double quotes, such "
    'as "3q2-7w" (the ETag of a previous response).'
)

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=ENTITY_TAGS_PATTERN,
        description=(
            "Write only if the item is still this version: the `ETag` of your last read, "
            "or `*` for any. Otherwise 412 `PRECONDITION_FAILED`, and nothing changes."
        ),
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        pattern=ENTITY_TAGS_PATTERN,
        description="The `ETag` you hold: while it is still current, 304 with no body.",
    ),
]


NOT_MODIFIED_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not Modified: `If-None-Match` names the current `ETag`. No body.",
        "headers": {"ETag": {"description": "The current ETag.", "schema": {"type": "string"}}},
    }
}


def etag_of(body: bytes) -> str:
    """The strong ETag of a representation: 96 bits of its hash, quoted."""
    digest = hashlib.blake2b(body, digest_size=12).digest()
    return f'"{base64.urlsafe_b64encode(digest).decode()}"'


@dataclass(frozen=True, slots=True)
class EntityTags:
    """A parsed `If-Match` or `If-None-Match`: `*`, or tags (`W/` kept on weak ones)."""

    any: bool
    tags: tuple[str, ...]

    def strongly_match(self, etag: str) -> bool:
        """`If-Match`'s comparison: the same opaque tag, neither weak."""
        return self.any or etag in self.tags

    def weakly_match(self, etag: str) -> bool:
        """`If-None-Match`'s comparison: the same opaque tag, weak or not."""
        return self.any or etag in self.tags or f"W/{etag}" in self.tags


def parse_entity_tags(value: str, header: str) -> EntityTags:
    """`value` of `header`, or InvalidInput (a 422) naming the header."""
    any_tag = False
    tags: list[str] = []
    position = 0
    value = value.strip(" \t")  # a field value's own padding (RFC 9110 5.5)
    while position < len(value):
        empty = _EMPTY_ELEMENT.match(value, position)  # `#rule` lists may have empty elements
        if empty:
            position = empty.end()
            continue
        element = _ELEMENT.match(value, position)
        if element is None or element.end() == position:
            raise InvalidInput(f"header.{header}", MALFORMED.format(header=header))
        star, weak, tag = element.groups()
        if star:
            any_tag = True
        else:
            tags.append(f"{weak or ''}{tag}")
        position = element.end()
    if not any_tag and not tags:
        raise InvalidInput(f"header.{header}", MALFORMED.format(header=header))
    return EntityTags(any=any_tag, tags=tuple(tags))


@dataclass(frozen=True, slots=True)
class _Matches:
    """The precondition of an `If-Match`: the item's current ETag is one of `tags`."""

    tags: EntityTags
    etag: Callable[[Record], str]

    def check(self, current: Record) -> None:
        etag = self.etag(current)
        if not self.tags.strongly_match(etag):
            raise PreconditionFailed(etag)


def write_precondition(
    request: Request, if_match: str | None, etag: Callable[[Record], str]
) -> Precondition | None:
    """What a write of one item requires of it, from its `If-Match`: None without one,
    unless REQUIRE_IF_MATCH makes that a 428."""
    if if_match is None:
        if request.app.state.require_if_match:
            raise PreconditionRequired
        return None
    return _Matches(parse_entity_tags(if_match, "If-Match"), etag)


def not_modified(response: Response, if_none_match: str | None) -> Response:
    """A 304 in place of `response` (one item, with its ETag) when `if_none_match` names
    its ETag; otherwise `response`."""
    if if_none_match is None:
        return response
    etag = response.headers["ETag"]
    if parse_entity_tags(if_none_match, "If-None-Match").weakly_match(etag):
        return Response(status_code=304, headers={"ETag": etag})
    return response
