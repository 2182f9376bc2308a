"""Which failures mean "the database is unreachable or too slow" (a 503 worth retrying)
rather than a bug (a 500).

Drivers report outages in many shapes: an `OSError` from the socket, a `TimeoutError`
from connect or from waiting for a pooled connection, or an asyncpg error with a SQLSTATE,
possibly as the cause of another exception. The chain of causes is walked so the answer
does not depend on who wrapped what.
"""

from collections.abc import Iterator

import asyncpg

# SQLSTATE classes that mean the server cannot serve us right now: 08 connection exception,
# 53 insufficient resources (too many connections), 57P operator intervention (shutdown,
# "the database system is starting up"), 28 and 3D a server that rejects the configured
# credentials or database. 57014 is a statement cancelled by statement_timeout.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "28", "3D")
_QUERY_CANCELED = "57014"

_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, DNS failure, or a Unix socket that is gone
    TimeoutError,  # connect, or no pooled connection free within the pool timeout
    asyncpg.ConnectionDoesNotExistError,  # the server closed the connection mid-statement
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or anything it wraps, says the database could not answer."""
    for cause in _causes(exc):
        if isinstance(cause, _UNAVAILABLE_TYPES):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate == _QUERY_CANCELED or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)
        ):
            return True
    return False


def is_database_timeout(exc: BaseException) -> bool:
    """True when `exc`, or anything it wraps, is a timeout: no pooled connection in time, a
    connect that took too long, or a statement cancelled by statement_timeout."""
    return any(
        isinstance(cause, TimeoutError) or getattr(cause, "sqlstate", None) == _QUERY_CANCELED
        for cause in _causes(exc)
    )
