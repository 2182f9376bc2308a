"""The database the bench runs on: the project's embedded PostgreSQL, or BENCH_DATABASE_URL.

The embedded server keeps its data directory in `bench/out/pgdata` (initdb runs once), and
the bench database on it is dropped and created afresh each run, so every run starts
from the same dataset. An external database is never dropped: only the bench's own rows
(user ids starting with `bench-`) are deleted and re-seeded there.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.config import Config
from todo_api.db.embedded import EmbeddedPostgres

DATABASE_NAME = "todo_bench"
_SQLALCHEMY_SCHEME = re.compile(r"^postgresql\+asyncpg://")


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    """One database, spelled for the API (DATABASE_URL) and for asyncpg (a libpq DSN)."""

    api_url: str
    dsn: str
    embedded: bool
    postmaster_pid: int | None = None


def asyncpg_dsn(url: str) -> str:
    """asyncpg reads libpq URLs (`host=` and `sslmode=` included), not SQLAlchemy's scheme."""
    return _SQLALCHEMY_SCHEME.sub("postgresql://", url)


@contextmanager
def bench_database(config: Config) -> Iterator[BenchDatabase]:
    """The database for this run; an embedded server is stopped again on exit."""
    if config.database_url is not None:
        yield BenchDatabase(
            api_url=config.database_url, dsn=asyncpg_dsn(config.database_url), embedded=False
        )
        return
    with EmbeddedPostgres(config.out_dir / "pgdata") as postgres:
        postgres.drop_database(DATABASE_NAME)
        postgres.create_database(DATABASE_NAME)
        url = postgres.url(DATABASE_NAME).render_as_string(hide_password=False)
        yield BenchDatabase(
            api_url=url,
            dsn=asyncpg_dsn(url),
            embedded=True,
            postmaster_pid=postgres.server.get_pid(),
        )
