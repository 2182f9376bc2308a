"""Turning the DATABASE_URL an operator pastes into the URL the async driver needs.

People copy connection strings from provider consoles and libpq tools, so the common
schemes are accepted and normalised to `postgresql+asyncpg`. libpq query parameters
that asyncpg spells differently are translated; anything this module does not know is
refused by name at start-up rather than silently ignored.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ACCEPTED_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")
ASYNC_DRIVER = "postgresql+asyncpg"
# Parameters asyncpg takes as they are. `host` may name a Unix-socket directory.
_PASSTHROUGH_PARAMETERS = {"host", "port"}
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used; the message says why without echoing the password."""


def to_async_url(raw: str) -> URL:
    """Parse and normalise a PostgreSQL URL for SQLAlchemy's asyncpg dialect."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseUrlError(
            "DATABASE_URL is not a valid URL (expected postgresql://user:password@host/db)"
        ) from None
    if url.drivername not in ACCEPTED_SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL scheme {url.drivername!r} is not supported; "
            f"use one of {', '.join(s + '://' for s in ACCEPTED_SCHEMES)}"
        )
    query: dict[str, str | tuple[str, ...]] = {}
    for name, value in url.query.items():
        if name in _PASSTHROUGH_PARAMETERS:
            query[name] = value
        elif name == "sslmode" and value in _SSL_MODES:
            query["ssl"] = value
        else:
            # The value is not echoed: `?password=...` is a valid libpq parameter.
            raise DatabaseUrlError(f"DATABASE_URL parameter {name!r} is not supported")
    return url.set(drivername=ASYNC_DRIVER, query=query)


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """One DATABASE_URL in the two forms the code needs: a SQLAlchemy URL for Alembic,
    and keyword arguments for asyncpg, which the app's connection pool uses."""

    url: URL
    connect_kwargs: Mapping[str, Any]

    def describe(self) -> str:
        """Where the database is, fit for logs: the password is masked."""
        return describe(self.url)


def parse_database_url(raw: str) -> DatabaseTarget:
    """Parse DATABASE_URL once, for both the migrations and the app."""
    url = to_async_url(raw)
    query_host = url.query.get("host")
    connect_kwargs: dict[str, Any] = {
        "host": query_host if isinstance(query_host, str) else url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
        "ssl": url.query.get("ssl"),
    }
    return DatabaseTarget(
        url=url,
        connect_kwargs={name: value for name, value in connect_kwargs.items() if value is not None},
    )


def describe(url: URL) -> str:
    """A URL fit for logs and error messages: the password is masked."""
    return url.render_as_string(hide_password=True)
