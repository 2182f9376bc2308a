"""Writes that go ahead only while the item is the version the client last saw (a
request's `If-Match`).

The check and the write are one atomic step: one transaction reads the item and locks it
(`SELECT ... FOR UPDATE`), asks the precondition about that current version, and only
then writes. A second writer that holds the same version waits for the lock, then finds
the item changed and is refused, so of two writers racing from one version exactly one
wins. A write without a precondition stays the single statement it always was.

What a version is (the strong ETag of the item's representation) is for the HTTP layer
to say; a service only hands the precondition the item as it is now.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from asyncpg import Record

from todo_api.db.database import Database, Executor, Query
from todo_api.errors import NotFound

_Result = TypeVar("_Result")


class Precondition(Protocol):
    """What the client requires of the item before it may be written."""

    def check(self, current: Record) -> None:
        """Return if the write may go ahead on `current`; raise PreconditionFailed (with
        the current version) if not."""


@dataclass(frozen=True, slots=True)
class ItemLock:
    """How one kind of item is read and locked for its precondition: the locking query
    (by the item's key), and what its absence is."""

    query: Query
    not_found: type[NotFound]

    async def write_if(
        self,
        database: Database,
        precondition: Precondition | None,
        write: Callable[[Executor], Awaitable[_Result]],
        **key: object,
    ) -> _Result:
        """`write`, after `precondition` holds for the item of `key`, which stays locked
        until the write commits; with no precondition, just `write`, alone. An item that
        does not exist is `not_found` either way: a precondition is never evaluated on
        nothing (RFC 9110 13.2.1), so another user's item stays a 404."""
        if precondition is None:
            return await write(database)
        async with database.transaction() as transaction:
            current = await transaction.fetch_one(self.query, **key)
            if current is None:
                raise self.not_found
            precondition.check(current)
            return await write(transaction)
